import { isIP } from 'node:net';
import { getConnInfo } from '@hono/node-server/conninfo';
import type { Context } from 'hono';
import type { GatewayEnv } from './context.ts';

/**
 * The client a request comes from, as the login guard counts it (service/login-guard.ts).
 *
 * Without proxies it is the socket's peer address. Behind `trustedProxyHops` reverse proxies
 * (`LOCKSTEP_TRUSTED_PROXY_HOPS`) it is the X-Forwarded-For entry the outermost of them
 * appended: the entries to its left are whatever the client sent and are never believed.
 * IPv6 clients are counted per /64, the block one subscriber usually holds, so rotating through
 * it does not buy more guesses. An address that cannot be read counts as `unknown`.
 */
export function clientSource(c: Context<GatewayEnv>, trustedProxyHops: number): string {
  if (trustedProxyHops > 0) {
    const hops = (c.req.header('x-forwarded-for') ?? '')
      .split(',')
      .map((entry) => entry.trim())
      .filter(Boolean);
    const forwarded = withoutPort(hops[hops.length - trustedProxyHops] ?? '');
    if (isIP(forwarded)) return normalizeAddress(forwarded);
  }
  let peer: string | undefined;
  try {
    peer = getConnInfo(c).remote.address;
  } catch {
    // Not served over a socket (app.request in tests).
  }
  return peer && isIP(peer) ? normalizeAddress(peer) : 'unknown';
}

/** Some proxies write `203.0.113.5:41234` or `[2001:db8::5]:443`: the address is what counts. */
export function withoutPort(entry: string): string {
  const bracketed = /^\[([^\]]+)\](?::\d+)?$/.exec(entry);
  if (bracketed?.[1]) return bracketed[1];
  const v4 = /^(\d+\.\d+\.\d+\.\d+):\d+$/.exec(entry);
  return v4?.[1] ?? entry;
}

export function normalizeAddress(address: string): string {
  if (isIP(address) !== 6) return address;
  // One spelling per address (the URL standard's: hex groups, lower case, compressed), so
  // `::ffff:cb00:7107` is 203.0.113.7 and an IPv4 tail counts in the right /64 (helper-43).
  const canonical = new URL(`http://[${address}]`).hostname.slice(1, -1);
  const mapped = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(canonical);
  if (mapped) {
    const [high, low] = [Number.parseInt(mapped[1] as string, 16), Number.parseInt(mapped[2] as string, 16)];
    return [high >> 8, high & 255, low >> 8, low & 255].join('.');
  }
  const [head = '', tail = ''] = canonical.split('::');
  const left = head ? head.split(':') : [];
  const right = canonical.includes('::') && tail ? tail.split(':') : [];
  const groups = canonical.includes('::')
    ? [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right]
    : left;
  return `${groups.slice(0, 4).join(':')}::/64`;
}
