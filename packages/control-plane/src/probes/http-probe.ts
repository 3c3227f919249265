import { request } from 'node:http';

/** What one probe saw. `detail` is for people: "HTTP 503", "no answer within 1000 ms". */
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
      const result = { ok: status >= 200 && status < 400, detail: `HTTP ${status}` };
      res.on('error', () => finish(result));
      res.on('end', () => finish(result));
      res.resume();
    });
    req.on('error', (error) => finish({ ok: false, detail: error.message }));
    req.end();
  });
}
