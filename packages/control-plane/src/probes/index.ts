export { type HttpProbeTarget, httpProbe, type ProbeResult } from './http-probe.ts';
export { type ProbeVerdict, recordProbe } from './probe-verdict.ts';
export { type ProberOptions, type ProbeSpec, startProber } from './prober.ts';
