// A real OpenID Connect provider for tests/test_auth.py: the certified `oidc-provider` package,
// configured from the environment the fixture sets, on http://localhost:$PORT.
//
//   PORT           the port to listen on
//   CLIENT         JSON {client_id, client_secret, redirect_uri}: the dashboards' registration
//   ACCOUNTS       JSON {login: {email, name, groups}}: who may sign in (any password: the
//                  package's development login form, which a test fills like a person would)
//
// Consent is granted without asking (a first-party client, as a company configures its own
// apps), so a sign-in is: the login form, then straight back to the dashboards.
import Provider from 'oidc-provider';

const port = Number(process.env.PORT);
const client = JSON.parse(process.env.CLIENT);
const accounts = JSON.parse(process.env.ACCOUNTS);
const issuer = `http://localhost:${port}`;

const provider = new Provider(issuer, {
  clients: [
    {
      client_id: client.client_id,
      client_secret: client.client_secret,
      redirect_uris: [client.redirect_uri],
      post_logout_redirect_uris: [client.redirect_uri],
      grant_types: ['authorization_code'],
      response_types: ['code'],
    },
  ],
  cookies: { keys: ['o2c-test-cookie-key-not-a-secret'] },
  claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name'], groups: ['groups'] },
  scopes: ['openid', 'email', 'profile', 'groups'],
  // put the claims in the ID token (what Streamlit reads into st.user), not only in userinfo
  conformIdTokenClaims: false,
  async findAccount(ctx, id) {
    const account = accounts[id];
    if (!account) return undefined;
    return {
      accountId: id,
      async claims() {
        return { sub: id, email: account.email, email_verified: true, name: account.name, groups: account.groups || [] };
      },
    };
  },
  async loadExistingGrant(ctx) {
    const grantId = ctx.oidc.result?.consent?.grantId || ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
    if (grantId) return ctx.oidc.provider.Grant.find(grantId);
    const grant = new ctx.oidc.provider.Grant({ clientId: ctx.oidc.client.clientId, accountId: ctx.oidc.session.accountId });
    grant.addOIDCScope('openid email profile groups');
    await grant.save();
    return grant;
  },
});

provider.listen(port, 'localhost', () => {
  console.log(`oidc-provider listening on ${issuer}`);
});
