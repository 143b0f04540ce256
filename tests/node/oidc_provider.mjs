// A real OpenID Connect provider for the SSO tests: the certified npm package oidc-provider (v8),
// configured with KBP's clients and a small account store carrying e-mail and groups claims.
//
//   node tests/node/oidc_provider.mjs CONFIG.json
//
// CONFIG.json: {"port", "issuer", "clients": [...], "accounts": {"<login>": {"email", "email_verified",
// "groups"}}, "key": <private JWK, optional>}. It prints "listening <port>" on stdout once ready.
// Sign-in uses the package's own development interactions (any password; the login is the account id).
//
// Test controls, outside the OpenID Connect endpoints (the tests drive them with plain HTTP):
//   POST /_test/accounts/<login>  {claims}  add or change an account (a group change, a new e-mail)
//   DELETE /_test/accounts/<login>          the account disappears (disabled at the provider)
//   POST /_test/tamper {"mode": ...}        the next ID tokens from /token are altered, then re-signed
//                                           with the provider's key unless the mode is "signature":
//                                           nonce | audience | expired | issuer | signature | none;
//                                           "state" alters the state parameter of the redirect back to the client
import { readFileSync } from 'node:fs';
import * as jose from 'jose';
import Provider from 'oidc-provider';

const config = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const accounts = config.accounts || {};
let tamper = 'none';

const key = config.key || (await jose.exportJWK((await jose.generateKeyPair('RS256', { extractable: true })).privateKey));
key.kid = config.kid || key.kid || 'test-key-1';
key.alg = 'RS256';
key.use = 'sig';
const signingKey = await jose.importJWK(key, 'RS256');
const strangerKey = (await jose.generateKeyPair('RS256')).privateKey;

const provider = new Provider(config.issuer, {
  clients: config.clients,
  jwks: { keys: [key] },
  findAccount: async (ctx, id) => {
    if (!accounts[id]) return undefined;
    return {
      accountId: id,
      claims: async () => ({ sub: id, ...accounts[id] }),
    };
  },
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name'],
    groups: ['groups'],
  },
  features: {
    devInteractions: { enabled: true },
    rpInitiatedLogout: { enabled: true },
  },
  pkce: { methods: ['S256'], required: () => true },
  cookies: { keys: ['kbp-test-cookie-key'] },
  ttl: { IdToken: 3600, AccessToken: 3600, Session: 3600, Interaction: 600, Grant: 3600 },
});
provider.proxy = false;

async function readJson(ctx) {
  const chunks = [];
  for await (const chunk of ctx.req) chunks.push(chunk);
  const text = Buffer.concat(chunks).toString('utf8');
  return text ? JSON.parse(text) : {};
}

provider.use(async (ctx, next) => {
  if (ctx.path.startsWith('/_test/')) {
    const [, , what, id] = ctx.path.split('/');
    if (what === 'accounts' && ctx.method === 'POST') {
      accounts[decodeURIComponent(id)] = await readJson(ctx);
    } else if (what === 'accounts' && ctx.method === 'DELETE') {
      delete accounts[decodeURIComponent(id)];
    } else if (what === 'tamper' && ctx.method === 'POST') {
      tamper = (await readJson(ctx)).mode || 'none';
    } else {
      ctx.status = 404;
      return;
    }
    ctx.status = 204;
    return;
  }
  await next();
  const location = ctx.response.get('Location');
  if (tamper === 'state' && location && location.includes('/callback?')) {
    ctx.redirect(location.replace('state=', 'state=tampered'));
  }
  if (ctx.path === '/token' && tamper !== 'none' && ctx.body && ctx.body.id_token) {
    ctx.body = { ...ctx.body, id_token: await altered(ctx.body.id_token) };
  }
});

async function altered(idToken) {
  const claims = jose.decodeJwt(idToken);
  const header = { alg: 'RS256', kid: key.kid, typ: 'JWT' };
  const now = Math.floor(Date.now() / 1000);
  if (tamper === 'nonce') claims.nonce = 'not-the-nonce-kbp-sent';
  if (tamper === 'audience') claims.aud = 'some-other-client';
  if (tamper === 'issuer') claims.iss = 'https://attacker.example';
  if (tamper === 'expired') Object.assign(claims, { iat: now - 7200, exp: now - 3600 });
  const signer = tamper === 'signature' ? strangerKey : signingKey;
  return new jose.SignJWT(claims).setProtectedHeader(header).sign(signer);
}

const server = provider.listen(config.port, '127.0.0.1', () => {
  process.stdout.write(`listening ${server.address().port}\n`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
