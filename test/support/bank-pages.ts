import { afterAll, beforeAll } from 'vitest';
import { startTestGateway, type TestGateway } from './gateway.ts';

/** The cookies a response sets, by name (the bank pages' session, CSRF and pre-login tokens). */
export function cookiesOf(headers: Headers): Record<string, string> {
  const jar: Record<string, string> = {};
  for (const line of headers.getSetCookie()) {
    const [pair] = line.split(';');
    const [name, value] = (pair as string).split('=');
    jar[name as string] = value as string;
  }
  return jar;
}

/** A form post to the bank's pages, as a browser sends it. */
export function postForm(
  gateway: TestGateway,
  path: string,
  fields: Record<string, string>,
  headers: Record<string, string> = {},
) {
  return gateway.gateway.app.request(path, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
    body: new URLSearchParams(fields).toString(),
  });
}

/** Logs in through the bank's login form: the session cookie header and its CSRF token. */
export async function pageLogIn(
  gateway: TestGateway,
  userId: string,
  password: string,
): Promise<{ cookie: string; csrf: string }> {
  const page = await gateway.gateway.app.request('/bank/login');
  const preLogin = cookiesOf(page.headers).ls_prelogin as string;
  const response = await postForm(
    gateway,
    '/bank/login',
    { csrf: preLogin, userId, password },
    { cookie: `ls_prelogin=${preLogin}` },
  );
  if (response.status !== 303) throw new Error(`login of ${userId} answered ${response.status}`);
  const jar = cookiesOf(response.headers);
  return { cookie: `ls_session=${jar.ls_session}; ls_csrf=${jar.ls_csrf}`, csrf: jar.ls_csrf as string };
}

/** A bank page as the session sees it. */
export async function pageGet(gateway: TestGateway, path: string, cookie: string) {
  const response = await gateway.gateway.app.request(path, { headers: { cookie } });
  return { status: response.status, text: await response.text(), headers: response.headers };
}

/**
 * The bank-page test files' gateway: the demo bank with a creation fee (¥100) and a
 * withdrawal fee (¥50 + 1%), started before the file's tests and closed after them, with its
 * page helpers bound.
 */
export function bankPagesGateway() {
  let gateway: TestGateway | undefined;
  beforeAll(async () => {
    gateway = await startTestGateway({
      allowedOrigins: ['https://shop.example'],
      commission: {
        creation: { JPY: { flatMinor: 100, basisPoints: 0 } },
        withdrawal: { JPY: { flatMinor: 50, basisPoints: 100 } },
      },
    });
  });
  afterAll(() => gateway?.close());
  const started = () => {
    if (!gateway) throw new Error('The gateway starts in beforeAll.');
    return gateway;
  };
  return {
    get gateway() {
      return started();
    },
    form: (path: string, fields: Record<string, string>, headers: Record<string, string> = {}) =>
      postForm(started(), path, fields, headers),
    logIn: (userId = 'mizuta', password = 'mizuta-demo-pass') => pageLogIn(started(), userId, password),
    get: (path: string, cookie: string) => pageGet(started(), path, cookie),
    /** A customer's API token and first usual account (as its bank page offers it). */
    async usualAccount(userId: string, password: string) {
      const token = await started().login(userId, password);
      const usual = (await started().request('GET', '/v1/accounts', { token })).body.usualAccounts[0];
      return { token, usual };
    },
  };
}
