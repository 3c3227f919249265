import { request } from 'node:http';

/** How much of a failing answer's body a probe keeps as its detail. */
const DETAIL_MAX_CHARS = 200;

/** What one probe saw. `detail` is for people: "HTTP 503: <first line of the body>", "no answer within 1000 ms". */
export interface ProbeResult {
  ok: boolean;
  detail: string;
}

/** Where and how long to probe. */
export interface HttpProbeTarget {
  host: string;
  port: number;
  path: string;
  timeoutMs: number;
}

/**
 * One HTTP GET on a fresh connection; 2xx and 3xx pass, as in Kubernetes. Resolves by `timeoutMs`
 * whatever the server does (never connects, never answers, never ends the body), and never rejects.
 */
export function httpProbe(target: HttpProbeTarget): Promise<ProbeResult> {
  return new Promise((resolve) => {
    let done = false;
    const finish = (result: ProbeResult): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      req.destroy();
      resolve(result);
    };
    const req = request({
      host: target.host,
      port: target.port,
      path: target.path,
      method: 'GET',
      agent: false,
      headers: { 'user-agent': 'flotilla-probe' },
    });
    const timer = setTimeout(
      () => finish({ ok: false, detail: `no answer within ${target.timeoutMs} ms` }),
      target.timeoutMs,
    );
    req.on('response', (res) => {
      const status = res.statusCode ?? 0;
      const ok = status >= 200 && status < 400;
      // A failing answer's first line says why (a gateway names the JWKS it waits for): kept for
      // `status` and the start-up summary, bounded so a large error page costs nothing.
      let said = '';
      const result = () => {
        const why = said.split('\n', 1)[0]!.trim().slice(0, DETAIL_MAX_CHARS);
        return { ok, detail: why ? `HTTP ${status}: ${why}` : `HTTP ${status}` };
      };
      res.on('error', () => finish(result()));
      res.on('end', () => finish(result()));
      if (ok) res.resume();
      else {
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          if (said.length < DETAIL_MAX_CHARS) said += chunk;
        });
      }
    });
    req.on('error', (error) => finish({ ok: false, detail: error.message }));
    req.end();
  });
}
