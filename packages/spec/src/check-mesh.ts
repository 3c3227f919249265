import type { SpecIssue } from './errors.ts';
import type { ParsedSystemSpec } from './schema.ts';
import { closest } from './suggest.ts';

/** Workloads that may appear as callers beside the services: the gateway. */
const PLATFORM_CALLERS = ['gateway'];

/**
 * Checks of the mesh rules that need the whole spec: a rule's subsets must be versions of its
 * service, an authorization rule's callers must be workloads of the system, and backoffs must be
 * ordered. Appends to `issues`.
 */
export function checkMesh(parsed: ParsedSystemSpec, issues: SpecIssue[]): void {
  const services = Object.keys(parsed.services);
  const callers = [...services, ...PLATFORM_CALLERS];
  const meshRetries = { retries: parsed.mesh.resilience.retries, at: 'mesh.resilience.retries' };
  checkBackoff([meshRetries], issues);
  for (const [name, svc] of Object.entries(parsed.services)) {
    const at = `services.${name}`;
    const versions = Object.keys(svc.versions);
    const serviceRetries =
      svc.resilience?.retries === undefined
        ? [meshRetries]
        : [meshRetries, { retries: svc.resilience.retries, at: `${at}.resilience.retries` }];
    const subset = (value: string, path: string) => {
      if (versions.includes(value)) return;
      const hint = closest(value, versions);
      issues.push({
        path,
        message: `"${value}" is not a version of ${name}${hint ? `, did you mean "${hint}"?` : ` (versions: ${versions.join(', ')})`}`,
      });
    };
    svc.traffic.forEach((rule, i) => {
      const ruleAt = `${at}.traffic[${i}]`;
      rule.route?.forEach((d, j) => {
        subset(d.subset, `${ruleAt}.route[${j}].subset`);
      });
      if (rule.route?.every((d) => d.weight === 0)) {
        issues.push({ path: `${ruleAt}.route`, message: 'at least one destination needs a weight above 0' });
      }
      if (rule.mirror !== undefined) subset(rule.mirror.subset, `${ruleAt}.mirror.subset`);
      if (rule.retries !== undefined)
        checkBackoff([...serviceRetries, { retries: rule.retries, at: `${ruleAt}.retries` }], issues);
    });
    if (svc.resilience?.retries !== undefined) checkBackoff(serviceRetries, issues);
    if (svc.authorization !== undefined && parsed.mesh.mtls === 'disable') {
      issues.push({
        path: `${at}.authorization`,
        message:
          'callers are known by their certificates, and mesh.mtls is disable: every call would be refused; set mesh.mtls to strict or permissive',
      });
    }
    svc.authorization?.forEach((rule, i) => {
      rule.from.forEach((caller, j) => {
        if (callers.includes(caller)) return;
        const hint = closest(caller, callers);
        issues.push({
          path: `${at}.authorization[${i}].from[${j}]`,
          message: `unknown workload "${caller}"${hint ? `, did you mean "${hint}"?` : ` (workloads: ${callers.join(', ')})`}`,
        });
      });
    });
  }
}

interface RetriesAt {
  retries: { backoffBaseMs?: number | undefined; backoffMaxMs?: number | undefined };
  at: string;
}

/**
 * Checks that the backoff in force at the last of `layers` (each a partial override of the ones
 * before it) is ordered. A layer that sets neither field is not checked: the layer that set the
 * values reports them. One that sets only one is, since the other comes from a layer above.
 */
function checkBackoff(layers: RetriesAt[], issues: SpecIssue[]): void {
  const { retries, at } = layers.at(-1)!;
  if (retries.backoffBaseMs === undefined && retries.backoffMaxMs === undefined) return;
  const base = inForce(layers, 'backoffBaseMs');
  const max = inForce(layers, 'backoffMaxMs');
  if (base === undefined || max === undefined || base.value <= max.value) return;
  const from = (field: { at: string }) => (field.at === at ? '' : `, from ${field.at}`);
  issues.push(
    retries.backoffMaxMs !== undefined
      ? { path: `${at}.backoffMaxMs`, message: `must be >= backoffBaseMs (${base.value}${from(base)})` }
      : { path: `${at}.backoffBaseMs`, message: `must be <= backoffMaxMs (${max.value}${from(max)})` },
  );
}

/** The value of a field in force after every layer, and the layer that set it. */
function inForce(
  layers: RetriesAt[],
  field: 'backoffBaseMs' | 'backoffMaxMs',
): { value: number; at: string } | undefined {
  for (let i = layers.length - 1; i >= 0; i--) {
    const value = layers[i]!.retries[field];
    if (value !== undefined) return { value, at: layers[i]!.at };
  }
  return undefined;
}
