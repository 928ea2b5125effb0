/**
 * The `Authorization: Basic` header and the `WWW-Authenticate` challenge of nginx's ngx_http_auth_basic_module
 * (https://nginx.org/en/docs/http/ngx_http_auth_basic_module.html).
 */

/** Credentials taken from an `Authorization: Basic` header. */
export interface BasicCredentials {
  user: string;
  password: string;
}

// Standard alphabet; padding may be left out, as nginx's decoder allows, but a length of 4n+1 never decodes.
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}(?:==)?|[A-Za-z0-9+/]{3}=?)?$/;
const UTF8 = new TextDecoder("utf-8", { fatal: true });

/** Parses `Basic BASE64(user:password)`; null when absent or malformed (nginx then answers 401 with a challenge). */
export function parseBasicAuthorization(header: string | undefined): BasicCredentials | null {
  if (header === undefined) return null;
  // nginx: the scheme is "Basic " compared caseless, then any further spaces are skipped.
  const m = /^basic +([^ \t]+)[ \t]*$/i.exec(header);
  if (!m) return null;
  const token = m[1]!;
  if (!BASE64.test(token)) return null;
  let text: string;
  try {
    // Fatal decoding: invalid UTF-8 is refused rather than folded into U+FFFD, so distinct byte strings never
    // compare equal after decoding.
    text = UTF8.decode(Buffer.from(token, "base64"));
  } catch {
    return null;
  }
  const colon = text.indexOf(":");
  // nginx refuses a missing colon and an empty user name alike; the password may be empty or hold colons.
  if (colon <= 0) return null;
  return { user: text.slice(0, colon), password: text.slice(colon + 1) };
}

/**
 * The `WWW-Authenticate` value `Basic realm="REALM"`, as a header-safe byte string. nginx copies the realm
 * verbatim; here `"` and `\` are backslash-escaped (RFC 9110 quoted-string) so a realm cannot end the quotes,
 * control characters other than tab are dropped (they would split or corrupt the header), and non-ASCII text is
 * given as its UTF-8 bytes one per character, which Node writes as latin1: the same bytes nginx sends.
 */
export function basicChallenge(realm: string): string {
  // eslint-disable-next-line no-control-regex
  const clean = realm.replace(/[\x00-\x08\x0a-\x1f\x7f]/g, "").replace(/["\\]/g, "\\$&");
  return `Basic realm="${Buffer.from(clean, "utf8").toString("latin1")}"`;
}
