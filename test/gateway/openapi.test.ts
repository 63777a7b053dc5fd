import { Validator } from '@seriousme/openapi-schema-validator';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { statusOfCode } from '../../packages/gateway/src/http/errors.ts';
import { startTestGateway, type TestGateway } from '../support/gateway.ts';

let gateway: TestGateway;
beforeAll(async () => {
  gateway = await startTestGateway();
});
afterAll(() => gateway.close());

/** Routes that are not JSON API operations and so are not in the OpenAPI document. */
const notInDocument = new Set([
  'GET /openapi.json',
  'GET /.well-known/jwks.json',
  'GET /healthz',
  'GET /v1/temporary-accounts/{code}/stream',
]);

describe('the OpenAPI document', () => {
  it('is valid OpenAPI 3.1', async () => {
    const document = (await gateway.request('GET', '/openapi.json')).body;
    expect(document.openapi).toBe('3.1.0');
    const result = await new Validator().validate(document);
    expect(result.errors ?? []).toEqual([]);
    expect(result.valid).toBe(true);
  });

  it('covers every route the app serves, and declares idempotency keys and error responses', async () => {
    const document = (await gateway.request('GET', '/openapi.json')).body;
    const documented = new Set<string>();
    for (const [path, operations] of Object.entries(document.paths as Record<string, Record<string, any>>)) {
      for (const [method, operation] of Object.entries(operations)) {
        documented.add(`${method.toUpperCase()} ${path}`);
        if (method === 'post') {
          expect(
            operation.parameters?.some((parameter: { name: string }) => parameter.name === 'Idempotency-Key'),
            path,
          ).toBe(true);
        }
        // Every status an error can be answered with is declared (402, 410, 413, 415 and 503
        // were answered but not listed before).
        for (const status of new Set(Object.values(statusOfCode))) {
          expect(operation.responses[String(status)], `${method} ${path} ${status}`).toBeDefined();
        }
      }
    }
    const served = new Set(
      gateway.gateway.app.routes
        .filter((route) => route.method !== 'ALL')
        .map((route) => `${route.method} ${route.path.replace(/:(\w+)/g, '{$1}')}`)
        .filter(
          (route) => !route.includes('/bank') && !route.includes('/widget') && !route.includes('checkout'),
        ),
    );
    const missing = [...served].filter((route) => !documented.has(route) && !notInDocument.has(route));
    expect(missing).toEqual([]);
    expect(documented.size).toBeGreaterThanOrEqual(20);
  });
});
