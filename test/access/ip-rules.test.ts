/** `allow`/`deny` tables (ngx_http_access_module): first match wins, no match allows, mapped IPv4 as IPv4. */
import assert from "node:assert/strict";
import { test } from "node:test";
import type { AccessRule } from "../../src/config/types.js";
import { compileAccessRules } from "../../src/access/ip-rules.js";

const allow = (cidr: string | null): AccessRule => ({ action: "allow", cidr });
const deny = (cidr: string | null): AccessRule => ({ action: "deny", cidr });

/** Each row: rules, then [client address, expected decision] pairs. */
const TABLE: [string, AccessRule[], [string, "allow" | "deny"][]][] = [
  [
    "no rules allow everyone",
    [],
    [
      ["10.0.0.1", "allow"],
      ["::1", "allow"],
      ["", "allow"],
    ],
  ],
  [
    "nginx's example: deny one host, allow two nets, deny all",
    [
      deny("192.168.1.1/32"),
      allow("192.168.1.0/24"),
      allow("10.1.1.0/16"),
      allow("2001:db8::/32"),
      deny(null),
    ],
    [
      ["192.168.1.1", "deny"],
      ["192.168.1.2", "allow"],
      ["192.168.2.1", "deny"],
      ["10.1.200.7", "allow"],
      ["10.2.0.1", "deny"],
      ["2001:db8:1234::5", "allow"],
      ["2001:db9::1", "deny"],
      ["::ffff:192.168.1.1", "deny"],
      ["::ffff:192.168.1.9", "allow"],
      ["::ffff:10.1.0.1", "allow"],
      ["::ffff:8.8.8.8", "deny"],
    ],
  ],
  [
    "first match wins: an earlier allow beats a later deny of the same address",
    [allow("127.0.0.1/32"), deny("127.0.0.0/8")],
    [
      ["127.0.0.1", "allow"],
      ["127.0.0.2", "deny"],
      ["126.0.0.1", "allow"],
    ],
  ],
  [
    "deny all after allows",
    [allow("10.0.0.0/8"), deny(null)],
    [
      ["10.9.9.9", "allow"],
      ["11.0.0.1", "deny"],
      ["::1", "deny"],
    ],
  ],
  [
    "/0 matches every IPv4 address only",
    [deny("0.0.0.0/0")],
    [
      ["1.2.3.4", "deny"],
      ["255.255.255.255", "deny"],
      ["::1", "allow"],
    ],
  ],
  [
    "::/0 matches every IPv6 address only",
    [deny("::/0")],
    [
      ["::", "deny"],
      ["fe80::1", "deny"],
      ["1.2.3.4", "allow"],
    ],
  ],
  [
    "/32 and a bare address are one host",
    [deny("203.0.113.7/32"), deny("203.0.113.9")],
    [
      ["203.0.113.7", "deny"],
      ["203.0.113.9", "deny"],
      ["203.0.113.8", "allow"],
    ],
  ],
  [
    "host bits in a rule are masked off, as nginx does after its warning",
    [deny("192.168.1.77/24")],
    [
      ["192.168.1.1", "deny"],
      ["192.168.2.1", "allow"],
    ],
  ],
  [
    "IPv6 prefixes that do not fall on a word boundary",
    [allow("2001:db8:abcd:12::/63"), allow("fe80::/10"), deny("::/0")],
    [
      ["2001:db8:abcd:12::1", "allow"],
      ["2001:db8:abcd:13:ffff:ffff:ffff:ffff", "allow"],
      ["2001:db8:abcd:14::", "deny"],
      ["febf:ffff::1", "allow"],
      ["fec0::1", "deny"],
      ["FE80::1%eth0", "allow"],
    ],
  ],
  [
    "IPv6 /128 and full-length text",
    [deny("2001:db8::1/128")],
    [
      ["2001:db8::1", "deny"],
      ["2001:0db8:0000:0000:0000:0000:0000:0001", "deny"],
      ["2001:db8::2", "allow"],
    ],
  ],
  [
    "a mapped client is checked against the IPv4 list when there is one",
    [allow("127.0.0.1"), deny("::ffff:0:0/96"), deny(null)],
    [
      ["::ffff:127.0.0.1", "allow"],
      ["::FFFF:127.0.0.1", "allow"],
      ["::ffff:7f00:1", "allow"],
      ["::ffff:127.0.0.2", "deny"],
    ],
  ],
  [
    "a mapped client meets IPv6 rules when no IPv4 rule or `all` exists",
    [deny("::ffff:0:0/96"), allow("::1")],
    [
      ["::ffff:127.0.0.1", "deny"],
      ["::1", "allow"],
      ["127.0.0.1", "allow"],
    ],
  ],
  [
    "IPv4-compatible and other IPv6 addresses are not mapped",
    [deny("127.0.0.0/8")],
    [
      ["::127.0.0.1", "allow"],
      ["::1", "allow"],
      ["64:ff9b::127.0.0.1", "allow"],
    ],
  ],
  [
    "a peer that is no IP address (unix socket) only meets `all`",
    [deny("0.0.0.0/0"), deny("::/0")],
    [
      ["", "allow"],
      ["unix:/run/sg.sock", "allow"],
    ],
  ],
  [
    "... and `all` catches it",
    [allow("10.0.0.0/8"), deny(null)],
    [
      ["", "deny"],
      ["not-an-ip", "deny"],
    ],
  ],
  [
    "malformed client text never matches an address rule",
    [deny("0.0.0.0/0"), deny("::/0")],
    [
      ["1.2.3", "allow"],
      ["1.2.3.4.5", "allow"],
      ["256.1.1.1", "allow"],
      ["1.2.3.4 ", "allow"],
      ["1:2:3", "allow"],
      ["1:::2", "allow"],
      ["1::2::3", "allow"],
      ["12345::1", "allow"],
      [":1", "allow"],
      ["1:", "allow"],
      ["1:2:3:4:5:6:7:8:9", "allow"],
      ["::ffff:1.2.3", "allow"],
      ["g::1", "allow"],
    ],
  ],
];

for (const [name, rules, cases] of TABLE) {
  test(`access rules: ${name}`, () => {
    const decide = compileAccessRules(rules);
    const got = cases.map(([addr]) => [addr, decide(addr)]);
    assert.deepEqual(got, cases);
  });
}

test("the cached parse of the previous address is not reused for a different one", () => {
  const decide = compileAccessRules([allow("10.0.0.1"), deny(null)]);
  const seq = [
    "10.0.0.1",
    "10.0.0.1",
    "10.0.0.2",
    "10.0.0.2",
    "10.0.0.1",
    "::ffff:10.0.0.1",
    "::ffff:10.0.0.2",
  ];
  assert.deepEqual(
    seq.map((a) => decide(a)),
    ["allow", "allow", "deny", "deny", "allow", "allow", "deny"],
  );
});

test("valid IPv6 spellings all parse to the address", () => {
  const decide = compileAccessRules([deny("1:0:0:0:0:0:0:8/128")]);
  for (const text of [
    "1::8",
    "1:0::8",
    "1::0:8",
    "0001:0000:0000:0000:0000:0000:0000:0008",
    "1:0:0:0:0:0:0:8",
  ]) {
    assert.equal(decide(text), "deny", text);
  }
  const edges = compileAccessRules([
    deny("::/128"),
    deny("1:2:3:4:5:6:7::/128"),
    deny("::2:3:4:5:6:7:8/128"),
  ]);
  assert.deepEqual(
    ["::", "1:2:3:4:5:6:7::", "::2:3:4:5:6:7:8", "1:2:3:4:5:6:7:0", "0:2:3:4:5:6:7:8", "::1"].map((a) =>
      edges(a),
    ),
    ["deny", "deny", "deny", "deny", "deny", "allow"],
  );
});

test("a rule that is no address or CIDR fails at compile time, naming it", () => {
  for (const cidr of ["10.0.0.0/33", "::/129", "10.0.0.0/", "10.0.0/8", "example.com", "10.0.0.0/-1"]) {
    assert.throws(() => compileAccessRules([allow(cidr)]), {
      code: "SG_ERR_CONFIG",
      message: `invalid parameter "${cidr}"`,
    });
  }
});
