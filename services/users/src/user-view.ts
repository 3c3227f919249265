/** A users row as the database returns it, without the password hash. */
export interface UserRow {
  id: string;
  email: string;
  name: string;
  phone: string | null;
  roles: string[];
  created_at: Date;
}

/** The columns of UserRow, for SELECT and RETURNING. */
export const USER_COLUMNS = 'id, email, name, phone, roles, created_at';

/** A user as clients see it. */
export interface UserView {
  id: string;
  email: string;
  name: string;
  phone: string | null;
  roles: string[];
  /** ISO 8601, UTC. */
  created_at: string;
}

/** The client's view of a users row. */
export function userView(row: UserRow): UserView {
  return {
    id: row.id,
    email: row.email,
    name: row.name,
    phone: row.phone,
    roles: row.roles,
    created_at: row.created_at.toISOString(),
  };
}
