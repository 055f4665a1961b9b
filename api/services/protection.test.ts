import { availableActions } from './protection';

describe('availableActions', () => {
  const active = [{ status: 'active' }];
  it('follows the file servers statuses', () => {
    expect(availableActions('active', 'standby', active)).toEqual([
      'planned_failover',
      'unplanned_failover',
      'dr_readiness',
    ]);
    expect(availableActions('failed', 'standby', active)).toEqual(['unplanned_failover']);
    expect(availableActions('standby', 'active', active)).toEqual(['resume_replication', 'failback', 'dr_readiness']);
    expect(availableActions('failed', 'active', active)).toEqual([]);
  });
  it('offers nothing without an active policy', () => {
    expect(availableActions('active', 'standby', [{ status: 'creating' }])).toEqual([]);
  });
});
