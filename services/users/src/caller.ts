import { HttpError, type RequestContext } from '@flotilla/runtime';

/**
 * The caller's subject, or 401. The gateway already refuses anonymous calls on these routes;
 * checking again keeps the service safe when it is reached some other way.
 */
export function requireSubject(ctx: Pick<RequestContext, 'caller'>): string {
  const { subject } = ctx.caller;
  if (subject === undefined) {
    throw new HttpError(
      401,
      'UNAUTHORIZED',
      'Sign in first: send a bearer token from POST /api/identity/v1/token.',
    );
  }
  return subject;
}

/** The caller's subject when the caller has `role`; 401 when anonymous, 403 otherwise. */
export function requireRole(ctx: Pick<RequestContext, 'caller'>, role: string): string {
  const subject = requireSubject(ctx);
  if (!ctx.caller.roles.includes(role)) {
    throw new HttpError(403, 'FORBIDDEN', `Only callers with the ${role} role may do this.`);
  }
  return subject;
}
