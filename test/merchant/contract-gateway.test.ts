import { rmSync } from 'node:fs';
import path from 'node:path';
import { apiErrorFrom, Lockstep } from '@lockstep/merchant';
import { demoLogins } from '../../packages/gateway/src/seed.ts';
import { buildGateway } from '../support/gateway-build.ts';
import { startGatewayProcess } from '../support/gateway-process.ts';
import { type ContractHarness, merchantContract } from './contract.ts';

/** The same suite against a real gateway process on localhost, buyer actions over HTTP. */
merchantContract('real gateway process', () => harnessOn('packages/gateway/src/bin.ts'));

/** And against the production build, run from a folder outside the repository. */
merchantContract('built gateway (dist/bin.js)', async () => {
  const dist = buildGateway();
  const harness = await harnessOn(path.join(dist, 'bin.js'));
  return {
    ...harness,
    close: async () => {
      await harness.close();
      rmSync(dist, { recursive: true, force: true });
    },
  };
});

async function harnessOn(script: string): Promise<ContractHarness> {
  const gateway = await startGatewayProcess(
    { LOCKSTEP_COMMISSION: '{"creation":{},"withdrawal":{}}' },
    script,
  );
  const call = async (token: string | undefined, method: string, path: string, body?: unknown) => {
    const response = await fetch(`${gateway.url}${path}`, {
      method,
      headers: {
        ...(token ? { authorization: `Bearer ${token}` } : {}),
        'content-type': 'application/json',
        ...(method === 'POST' ? { 'idempotency-key': crypto.randomUUID() } : {}),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const payload = await response.json();
    // As the mock's buyer throws (@lockstep/merchant/testing): the SDK's typed error.
    if (!response.ok) throw apiErrorFrom(payload, response.status, undefined);
    return payload;
  };
  const login = async (user: { userId: string; password: string }) =>
    (await call(undefined, 'POST', '/v1/sessions', { userId: user.userId, password: user.password }))
      .token as string;
  const buyerToken = await login(demoLogins.buyer);
  const sellerToken = await login(demoLogins.seller);
  const usualBalance = async (token: string) =>
    (await call(token, 'GET', '/v1/accounts')).usualAccounts[0].balanceMinor as number;
  const act = (code: string, action: string, body: unknown = {}) =>
    call(buyerToken, 'POST', `/v1/temporary-accounts/${code}/${action}`, body);
  return {
    lockstep: new Lockstep({ apiKey: gateway.seed.secretKey, baseUrl: gateway.url }),
    buyer: {
      pay: async (invoice, options) =>
        (
          await call(buyerToken, 'POST', '/v1/temporary-accounts', {
            invoice,
            ...(options?.later ? { payLater: true } : {}),
          })
        ).code,
      payIn: async (code, amountMinor) =>
        act(code, 'deposit', {
          amountMinor:
            amountMinor ?? (await call(buyerToken, 'GET', `/v1/temporary-accounts/${code}`)).amountDueMinor,
        }),
      release: (code) => act(code, 'accept'),
      reject: (code, reason) => act(code, 'reject', reason ? { reason } : {}),
      withdraw: (code) => act(code, 'withdraw'),
      balanceMinor: () => usualBalance(buyerToken),
    },
    merchantBalanceMinor: () => usualBalance(sellerToken),
    close: () => gateway.stop(),
  };
}
