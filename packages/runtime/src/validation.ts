import { HttpError } from './errors.ts';

/**
 * The Standard Schema contract (standardschema.dev), which zod 4, valibot and arktype schemas
 * implement. The runtime depends on it rather than on zod, so a service picks its validator.
 */
export interface StandardSchema<Input = unknown, Output = Input> {
  readonly '~standard': {
    readonly version: 1;
    readonly vendor: string;
    readonly validate: (value: unknown) => StandardResult<Output> | Promise<StandardResult<Output>>;
    readonly types?: { readonly input: Input; readonly output: Output } | undefined;
  };
}

type StandardResult<Output> =
  | { readonly value: Output; readonly issues?: undefined }
  | { readonly issues: ReadonlyArray<StandardIssue> };

interface StandardIssue {
  readonly message: string;
  readonly path?: ReadonlyArray<PropertyKey | { readonly key: PropertyKey }> | undefined;
}

/** The type a schema produces. */
export type InferOutput<S extends StandardSchema> = NonNullable<S['~standard']['types']>['output'];

/** One field that failed validation, as clients see it in `details`. */
export interface FieldIssue {
  /** Where the field is: `items[0].qty`; empty for the value as a whole. */
  path: string;
  message: string;
}

/** Validates `value`; throws a 400 VALIDATION_FAILED listing every failing field. */
export async function validate<S extends StandardSchema>(
  schema: S,
  value: unknown,
  where: 'body' | 'query',
): Promise<InferOutput<S>> {
  const result = await schema['~standard'].validate(value);
  if (!result.issues) return result.value as InferOutput<S>;
  const details: FieldIssue[] = result.issues.map((issue) => ({
    path: formatPath(issue.path ?? []),
    message: issue.message,
  }));
  throw HttpError.of('VALIDATION_FAILED', {
    message:
      where === 'body' ? 'The request body is invalid; see details.' : 'The query is invalid; see details.',
    details,
  });
}

/** `['items', 0, 'qty']` as `items[0].qty`. */
function formatPath(path: ReadonlyArray<PropertyKey | { readonly key: PropertyKey }>): string {
  let out = '';
  for (const segment of path) {
    const key = typeof segment === 'object' ? segment.key : segment;
    if (typeof key === 'number') out += `[${key}]`;
    else out += out ? `.${String(key)}` : String(key);
  }
  return out;
}
