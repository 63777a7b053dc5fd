import { describe, expect, it } from 'vitest';
import { demoLogins } from '../../packages/gateway/src/seed.ts';
import { defaultLoginPolicy } from '../../packages/gateway/src/service/auth.ts';
import { startTestGateway } from '../support/gateway.ts';

/**
 * Password checks share Node's thread pool with the embedded store's disk syncs: a flood of
 * logins must be turned away, not queue every payment command behind ~90 ms hashes.
 */
describe('a flood of logins', () => {
  it('is refused with rate_limited beyond a few waiting, counting nothing, and logins work again after', async () => {
    const gateway = await startTestGateway({
      webhooks: false,
      housekeeping: false,
      loginPolicy: { ...defaultLoginPolicy, hashingSlots: 1, hashingQueueMax: 2 },
    });
    try {
      const login = (userId: string, password: string) =>
        gateway.request('POST', '/v1/sessions', { body: { userId, password } });
      // Twelve at once, unknown user IDs and one wrong password for a real user among them.
      const flood = await Promise.all([
        ...Array.from({ length: 11 }, (_, index) => login(`nobody-${index}`, 'guess')),
        login(demoLogins.buyer.userId, 'wrong password'),
      ]);
      const refused = flood.filter((answer) => answer.status === 429);
      expect(refused.length).toBeGreaterThanOrEqual(6);
      for (const answer of refused) {
        expect(answer.body.error.code).toBe('rate_limited');
        expect(answer.body.error.details.retryAfterSeconds).toBe(1);
      }
      for (const answer of flood.filter((item) => item.status !== 429)) {
        expect(answer.status).toBe(401);
        expect(answer.body.error.code).toBe('invalid_credentials');
      }
      // The real user's refused attempt (the last one sent, so one of the refused) counted nothing:
      // four more wrong passwords from the same source and the right one still gets in (had the
      // refused one counted, that would be a sixth attempt after five failures: locked).
      expect(flood.at(-1)?.status).toBe(429);
      for (let attempt = 1; attempt <= 4; attempt++) {
        expect((await login(demoLogins.buyer.userId, 'wrong password')).status).toBe(401);
      }
      // Once the line is free, logins are checked again.
      const ok = await login(demoLogins.buyer.userId, demoLogins.buyer.password);
      expect(ok.status).toBe(201);
    } finally {
      await gateway.close();
    }
  });
});
