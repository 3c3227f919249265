import { HttpError, type RequestContext } from '@flotilla/runtime';

/** The verified subject of the request; 401 for anonymous calls. */
export function requireSubject(ctx: Pick<RequestContext, 'caller'>): string {
  const subject = ctx.caller.subject;
  if (subject === undefined) {
    throw new HttpError(401, 'UNAUTHENTICATED', 'Send a bearer token from POST /api/identity/v1/token.');
  }
  return subject;
}

/** The subject of an admin caller; 401 anonymous, 403 for any other role. */
export function requireAdmin(ctx: Pick<RequestContext, 'caller'>): string {
  const subject = requireSubject(ctx);
  if (!ctx.caller.roles.includes('admin')) {
    throw new HttpError(403, 'FORBIDDEN', 'Only admins may change the catalogue.');
  }
  return subject;
}
