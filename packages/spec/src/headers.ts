/**
 * Headers with a meaning across the platform. The gateway sets the identity headers after it
 * verifies a token and strips them from every client request, so a service behind the gateway
 * can trust them and a client cannot forge them.
 */
export const HEADERS = {
  subject: 'x-flotilla-subject',
  roles: 'x-flotilla-roles',
  requestId: 'x-request-id',
} as const;
