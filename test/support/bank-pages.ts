import type { TestGateway } from './gateway.ts';

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
