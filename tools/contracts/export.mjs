// Prints, as JSON on stdout, every request validator of @rocket.chat/rest-typings mapped to the
// endpoints whose declared parameter type it validates:
//   {"package": {name, version}, "endpoints": {"/v1/x": {"GET": {validator, schema, query}}},
//    "declared": {"/v1/x": ["GET", ...]}}
// Validators are the `isX` exports (ajv `compile` results, so `.schema` is their JSON schema);
// the package's `.d.ts` files pair endpoints with parameter types (`GET: (params: T) => …`) and
// validators with types (`isX: ValidateFunction<T>`). `query` says the validator was compiled with
// the package's query instance (ajv coerceTypes: 'array') rather than the body one (coerceTypes).
import { register } from 'node:module';
import { readFileSync, readdirSync, statSync, existsSync } from 'node:fs';
import { dirname, join, resolve as resolvePath } from 'node:path';
import { createRequire } from 'node:module';

register('./hooks.mjs', import.meta.url);

const root = process.argv[2];
const require = createRequire(join(root, 'package.json'));
const pkgDir = dirname(require.resolve('@rocket.chat/rest-typings/package.json'));
const pkg = JSON.parse(readFileSync(join(pkgDir, 'package.json'), 'utf8'));
const mod = await import(join(pkgDir, pkg.main));
const { ajvQuery } = await import(join(pkgDir, 'dist/v1/Ajv.js'));

function walk(dir, out = []) {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p, out);
    else if (name.endsWith('.d.ts')) out.push(p);
  }
  return out;
}

// type name -> validator export name, per declaring file and globally
const validatorsByFile = new Map();
const validatorsByType = new Map();
const files = walk(join(pkgDir, 'dist'));
const texts = new Map(files.map((f) => [f, readFileSync(f, 'utf8')]));
for (const [file, text] of texts) {
  const local = new Map();
  for (const m of text.matchAll(/export declare const (is\w+): (?:import\("ajv"\)\.)?ValidateFunction<(\w+)/g)) {
    local.set(m[2], m[1]);
    if (!validatorsByType.has(m[2])) validatorsByType.set(m[2], new Set());
    validatorsByType.get(m[2]).add(m[1]);
  }
  validatorsByFile.set(file, local);
}

function importedFrom(file, text, typeName) {
  for (const m of text.matchAll(/import(?: type)? \{([^}]*)\} from '(\.[^']*)'/g)) {
    const names = m[1].split(',').map((s) => s.trim().replace(/^type /, '').split(' as ')[0]);
    if (!names.includes(typeName)) continue;
    for (const cand of [`${m[2]}.d.ts`, `${m[2]}/index.d.ts`]) {
      const p = resolvePath(dirname(file), cand);
      if (existsSync(p)) return p;
    }
  }
  return null;
}

function validatorFor(file, text, typeName) {
  const local = validatorsByFile.get(file)?.get(typeName);
  if (local) return local;
  const other = importedFrom(file, text, typeName);
  if (other && validatorsByFile.get(other)?.get(typeName)) return validatorsByFile.get(other).get(typeName);
  const global = validatorsByType.get(typeName);
  if (global && global.size === 1) return [...global][0];
  const byName = `is${typeName}`;
  return typeof mod[byName] === 'function' ? byName : null;
}

// No type-mapped validator (an inline parameter type): for GET, the package's naming convention,
// is<Endpoint><Params|Props><GET?>, e.g. users.getPresence -> isUsersGetPresenceParamsGET. Not for
// bodies: there a same-named validator may check something else (isMethodCallProps checks the
// DDP message inside method.call's body, which the server validates with isMeteorCall).
const squash = (s) => s.replace(/[^A-Za-z0-9]/g, '').toLowerCase();
function validatorByName(path, method) {
  const want = squash(path.replace(/^\/v1\//, '').replace(/\/:[^/]+/g, ''));
  const m = method.toLowerCase();
  for (const name of Object.keys(mod)) {
    if (!name.startsWith('is') || typeof mod[name] !== 'function' || !mod[name].schema) continue;
    let rest = squash(name.slice(2));
    const forMethod = ['get', 'post', 'put', 'delete'].find((x) => rest.endsWith(x) && !want.endsWith(x));
    if (forMethod && forMethod !== m) continue;
    if (forMethod) rest = rest.slice(0, -forMethod.length);
    for (const suffix of ['params', 'props', '']) {
      if (rest === want + suffix) return name;
    }
  }
  return null;
}

const TS_BUILTIN = new Set(['unknown', 'any', 'never', 'void', 'object', 'undefined', 'null']);
const endpoints = {};
const declared = {};
const aliases = [];
for (const [file, text] of texts) {
  // '/v1/dm.create': ImEndpoints['/v1/im.create'];
  for (const m of text.matchAll(/^\s*'(\/v1\/[^']+)': \w+\['(\/v1\/[^']+)'\];/gm)) aliases.push([m[1], m[2]]);
}
for (const [file, text] of texts) {
  for (const m of text.matchAll(/^\s*'(\/v1\/[^']+)': \{\n/gm)) {
    const path = m[1];
    // the endpoint's block: up to the next line that closes it at its own indentation
    const indent = /^\s*/.exec(text.slice(text.lastIndexOf('\n', m.index) + 1))[0];
    const end = text.indexOf(`\n${indent}};`, m.index);
    const block = text.slice(m.index, end < 0 ? undefined : end);
    for (const mm of block.matchAll(new RegExp(`^${indent}    (GET|POST|PUT|DELETE): \\((params\\??: )?(?:(\\w+)(<[^>]*>)?)?`, 'gm'))) {
      const method = mm[1];
      (declared[path] ||= []).push(method);
      // a named parameter type maps to its validator; no params, an inline type or a generic
      // fall back to the naming convention
      // TypeScript's own types name no validator: `params: unknown` (livechat/sms-incoming/:service)
      // would otherwise pick isLoginProps, declared as ValidateFunction<unknown>
      const named = mm[3] && !mm[4] && !TS_BUILTIN.has(mm[3]);
      let name = named ? validatorFor(file, text, mm[3]) : null;
      const how = name ? 'type' : 'name';
      if (!name && mm[2] && method === 'GET') name = validatorByName(path, method);
      const fn = name && mod[name];
      if (typeof fn !== 'function' || !fn.schema) continue;
      (endpoints[path] ||= {})[method] = {
        validator: name,
        matched_by: how,
        schema: fn.schema,
        query: ajvQuery._cache?.has?.(fn.schema) ?? false,
      };
    }
  }
}
// Where the .d.ts writes the parameters inline but the server names the package's validator
// (apps/meteor/app/api/server/v1/misc.ts: method.call(Anon)/:method, validateParams: isMeteorCall).
const SERVER_NAMED = {
  '/v1/method.call/:method': { POST: 'isMeteorCall' },
  '/v1/method.callAnon/:method': { POST: 'isMeteorCall' },
};
for (const [path, methods] of Object.entries(SERVER_NAMED)) {
  for (const [method, name] of Object.entries(methods)) {
    const fn = mod[name];
    if (typeof fn !== 'function' || !fn.schema || endpoints[path]?.[method]) continue;
    (endpoints[path] ||= {})[method] = { validator: name, matched_by: 'server', schema: fn.schema, query: false };
  }
}
for (const [path, target] of aliases) {
  if (declared[target]) declared[path] = [...declared[target]];
  if (endpoints[target]) endpoints[path] = endpoints[target];
}

process.stdout.write(JSON.stringify({ package: { name: pkg.name, version: pkg.version }, endpoints, declared }));
