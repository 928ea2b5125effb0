/** The part of `syncgate ctl --help` after the commands: where each upstream is managed, secrets, exit statuses. */

/** Printed after commander's own help. */
export const CTL_HELP = `
Where each upstream is managed:
  By default from the configuration (-c, as the server reads it): the upstream's "upsync" line (Consul KV,
  etcd v2 or v3, a watched file; the Consul catalog, consul_services/consul_health, is read-only: change the
  service's registration), else a running syncgate's API: the first "api" location, on its server's first
  listen ("*" is reached on 127.0.0.1). list and status add live state and connections when the API answers;
  drain and status need it.
  --consul URL   every upstream is the Consul KV folder upstreams/UPSTREAM/  (/v1/kv/upstreams/UPSTREAM/)
  --etcd URL     every upstream is the etcd v3 key prefix /upstreams/UPSTREAM/
  --etcd-v2 URL  every upstream is the etcd v2 directory /upstreams/UPSTREAM  (/v2/keys/upstreams/UPSTREAM)
  --api URL      the running syncgate's api location; without a registry option it also takes every write
  Values are written in the registry's own format (nginx-upsync-module's JSON), so nginx + upsync and syncgate
  can share a registry.

Secrets never go on the command line (ps shows it to everyone):
  --token-file FILE  a Consul ACL token, or etcd user:password (else the config's upsync_token_file)
  --auth-file FILE   user:password for the API's auth_basic (else $SYNCGATE_API_AUTH)

Exit status: 0 success; 1 unreachable registry or API, configuration error; 2 bad command line, address or
value; 3 unknown upstream or server; 4 refused (last server without --force, read-only source, API without
write=on). A failure prints one line "syncgate ctl: REASON" on stderr.
`;
