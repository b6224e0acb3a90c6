// A real Better Auth server (email/password, JWT plugin, pg adapter) for the todo API's interop tests.
//
//   node server.mjs migrate   create or update Better Auth's tables (its own migration, as `auth migrate` does)
//   node server.mjs serve     listen on 127.0.0.1:$PORT and print "listening <url>" once ready
//
// Environment: DATABASE_URL (postgres://..., "?host=/socket/dir" for a unix socket), BETTER_AUTH_URL (this
// server's base URL: the JWT's iss and aud), BETTER_AUTH_SECRET, PORT, and optionally JWT_ISSUER / JWT_AUDIENCE
// (override iss / aud) and JWKS_ROTATION_SECONDS (the plugin's key rotation interval).
import http from "node:http";
import process from "node:process";

import { betterAuth } from "better-auth";
import { getMigrations } from "better-auth/db/migration";
import { toNodeHandler } from "better-auth/node";
import { jwt } from "better-auth/plugins/jwt";
import pg from "pg";

function required(name) {
  const value = process.env[name];
  if (!value) {
    console.error(`better-auth interop server: ${name} is required`);
    process.exit(2);
  }
  return value;
}

const baseURL = required("BETTER_AUTH_URL");
const pool = new pg.Pool({ connectionString: required("DATABASE_URL"), max: 4 });

const options = {
  baseURL,
  secret: required("BETTER_AUTH_SECRET"),
  database: pool,
  emailAndPassword: { enabled: true },
  telemetry: { enabled: false },
  plugins: [
    jwt({
      jwt: {
        issuer: process.env.JWT_ISSUER || baseURL,
        audience: process.env.JWT_AUDIENCE || baseURL,
      },
      // With a rotation interval every key gets an expiresAt; once it passes, the next token is signed by a
      // new key while the old one stays published for the grace period (30 days by default).
      jwks: { rotationInterval: Number(process.env.JWKS_ROTATION_SECONDS || 30 * 24 * 3600) },
    }),
  ],
};

async function migrate() {
  const { runMigrations, toBeCreated, toBeAdded } = await getMigrations(options);
  await runMigrations();
  console.log(`migrated: ${toBeCreated.length} table(s) created, ${toBeAdded.length} table(s) altered`);
}

async function serve() {
  const port = Number(required("PORT"));
  const server = http.createServer(toNodeHandler(betterAuth(options)));
  const stop = () => server.close(() => pool.end().then(() => process.exit(0)));
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
  server.listen(port, "127.0.0.1", () => console.log(`listening ${baseURL}`));
}

const command = process.argv[2];
try {
  if (command === "migrate") {
    await migrate();
    await pool.end();
  } else if (command === "serve") {
    await serve();
  } else {
    console.error("usage: node server.mjs migrate|serve");
    process.exit(2);
  }
} catch (error) {
  console.error(error);
  process.exit(1);
}
