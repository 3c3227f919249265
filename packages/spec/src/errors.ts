/** One problem in a spec, located by a dotted path such as `services.api.replicas`. */
export interface SpecIssue {
  path: string;
  message: string;
}

/** Thrown when a spec cannot be read or is invalid. `issues` lists every problem found, not just the first. */
export class SpecError extends Error {
  readonly code = 'FLOTILLA_SPEC_INVALID';
  readonly issues: readonly SpecIssue[];
  readonly file: string | undefined;

  constructor(issues: SpecIssue[], file?: string, options?: ErrorOptions) {
    const where = file ? ` in ${file}` : '';
    const list = issues.map((i) => `  ${i.path ? `${i.path}: ` : ''}${i.message}`).join('\n');
    super(`${issues.length} problem${issues.length === 1 ? '' : 's'}${where}:\n${list}`, options);
    this.name = 'SpecError';
    this.issues = issues;
    this.file = file;
  }
}
