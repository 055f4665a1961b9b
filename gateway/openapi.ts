// The OpenAPI 3.1 document of the gateway API (served at /v1/openapi.json), generated from the routes' declarations
// (gateway/http.ts: the same zod schemas validate each request and describe it here).
import { OpenAPIRegistry, OpenApiGeneratorV31 } from '@asteasolutions/zod-to-openapi';
import { PEER_NODE_HEADER } from '../domain/gateway-contract';

export function createGatewayRegistry(): OpenAPIRegistry {
  const reg = new OpenAPIRegistry();
  reg.registerComponent('securitySchemes', 'control', {
    type: 'http',
    scheme: 'bearer',
    description: "The orchestrator's control token of this agent (GATEWAY_TOKEN)",
  });
  reg.registerComponent('securitySchemes', 'peer', {
    type: 'http',
    scheme: 'bearer',
    description: `The pair token shared with the peer FSVM named in ${PEER_NODE_HEADER} (GATEWAY_PEER_TOKENS)`,
  });
  return reg;
}

export function generateGatewayDocument(reg: OpenAPIRegistry): unknown {
  return new OpenApiGeneratorV31(reg.definitions).generateDocument({
    openapi: '3.1.0',
    info: { title: 'fs-dr FSVM gateway', version: '1' },
  });
}
