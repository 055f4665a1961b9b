// Data loading for views: load once, reload when the live stream says the data changed (or reconnected), and poll
// while the stream is unavailable. Views merge job and operation events into what they show.
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { live, POLL_MS, type ChangeTopic, type LiveEvent, type LiveMode } from './live';

export function useLiveMode(): LiveMode {
  const [mode, setMode] = useState(live.mode);
  useEffect(() => {
    const off = live.onMode(setMode);
    // The mode may have changed between the render and this effect (the stream answers fast).
    setMode(live.mode);
    return off;
  }, []);
  return mode;
}

export function useLiveEvents(handler: (e: LiveEvent) => void): void {
  const ref = useRef(handler);
  ref.current = handler;
  useEffect(() => live.subscribe((e) => ref.current(e)), []);
}

export interface Resource<T> {
  data: T | undefined;
  error: unknown;
  loading: boolean;
  reload: () => void;
  setData: (update: (d: T) => T) => void;
}

export interface ResourceOptions {
  /** Reload when one of these lists changed. */
  topics?: ChangeTopic[];
  /** Reload on job or operation events that pass this test (e.g. a job of this policy ended). */
  reloadOn?: (e: LiveEvent) => boolean;
}

export function useResource<T>(load: () => Promise<T>, deps: unknown[], opts: ResourceOptions = {}): Resource<T> {
  const [data, setState] = useState<T | undefined>(undefined);
  const [error, setError] = useState<unknown>(undefined);
  const [loading, setLoading] = useState(true);
  const loader = useRef(load);
  loader.current = load;
  const seq = useRef(0);
  const timer = useRef<ReturnType<typeof setTimeout> | undefined>(undefined);

  const reload = useCallback(() => {
    const mine = ++seq.current;
    setLoading(true);
    loader.current().then(
      (d) => {
        if (mine !== seq.current) return;
        setState(d);
        setError(undefined);
        setLoading(false);
      },
      (err: unknown) => {
        if (mine !== seq.current) return;
        setError(err);
        setLoading(false);
      },
    );
  }, []);
  // Several events in a burst cause one reload.
  const soon = useCallback(() => {
    if (timer.current) clearTimeout(timer.current);
    timer.current = setTimeout(reload, 250);
  }, [reload]);

  useEffect(() => {
    setState(undefined);
    reload();
  }, deps);

  const opt = useRef(opts);
  opt.current = opts;
  useLiveEvents((e) => {
    if (e.type === 'resync') soon();
    else if (e.type === 'changed' && e.data.topics.some((t) => opt.current.topics?.includes(t))) soon();
    else if (opt.current.reloadOn?.(e)) soon();
  });

  const mode = useLiveMode();
  useEffect(() => {
    if (mode === 'live') return;
    const id = setInterval(reload, POLL_MS);
    return () => clearInterval(id);
  }, [mode, reload]);

  useEffect(() => () => timer.current && clearTimeout(timer.current), []);

  const setData = useCallback((update: (d: T) => T) => setState((d) => (d === undefined ? d : update(d))), []);
  return { data, error, loading, reload, setData };
}
