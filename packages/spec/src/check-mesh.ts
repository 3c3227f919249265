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
  checkBackoff(parsed.mesh.resilience.retries, 'mesh.resilience.retries', issues);
  for (const [name, svc] of Object.entries(parsed.services)) {
    const at = `services.${name}`;
    const versions = Object.keys(svc.versions);
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
      rule.route?.forEach((d, j) => subset(d.subset, `${ruleAt}.route[${j}].subset`));
      if (rule.route !== undefined && rule.route.every((d) => d.weight === 0)) {
        issues.push({ path: `${ruleAt}.route`, message: 'at least one destination needs a weight above 0' });
      }
      if (rule.mirror !== undefined) subset(rule.mirror.subset, `${ruleAt}.mirror.subset`);
      if (rule.retries !== undefined) checkBackoff(rule.retries, `${ruleAt}.retries`, issues);
    });
    if (svc.resilience?.retries !== undefined)
      checkBackoff(svc.resilience.retries, `${at}.resilience.retries`, issues);
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

function checkBackoff(
  retries: { backoffBaseMs?: number | undefined; backoffMaxMs?: number | undefined },
  path: string,
  issues: SpecIssue[],
): void {
  const { backoffBaseMs, backoffMaxMs } = retries;
  if (backoffBaseMs !== undefined && backoffMaxMs !== undefined && backoffBaseMs > backoffMaxMs) {
    issues.push({ path: `${path}.backoffMaxMs`, message: `must be >= backoffBaseMs (${backoffBaseMs})` });
  }
}
