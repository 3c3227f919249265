/** Where every instance listens and where the data plane reaches it: loopback, never a public address. */
export const INSTANCE_HOST = '127.0.0.1';
