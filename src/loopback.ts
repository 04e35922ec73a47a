/**
 * The one definition of "this machine". The guards admit exactly these names in
 * `Host` and `Origin` (a page can only send them when it really is local); a
 * server bound to a loopback address needs no token, since only this machine can
 * reach it: these names, `::1`, or any 127.x.y.z.
 */
export const LOOPBACK_NAMES: ReadonlySet<string> = new Set(['localhost', '127.0.0.1', '[::1]']);

export const isLoopbackAddress = (host: string) => LOOPBACK_NAMES.has(host) || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
