#!/usr/bin/env node
// Reference driver for iamd's differential policy test.
//
// Reads cases on stdin, one JSON object per line, in the shape of
// shared/testdata/policy-eval/aws-iam-user-guide/cases.json (the shape of the
// coreEngineTests cases of @cloud-copilot/iam-simulate), runs each through
// the public runSimulation in Strict mode, and writes one JSON line per case:
//
//   {"line":N,"id":"…","decision":"Allowed|ImplicitlyDenied|ExplicitlyDenied|Error",
//    "error":"…","ignoredContextKeys":[…],"allows":[…],"denies":[…]}
//
// Lines are answered in input order, one at a time, so one process serves any
// number of cases.
//
// Timing mode: `node driver.js --bench SECONDS` reads every case first, then
// runs them round-robin on this one thread for at least SECONDS and prints
// {"cases":N,"decisions":D,"seconds":S,"decisionsPerSecond":R,
//  "cpuSeconds":C,"decisionsPerCpuSecond":RC} (C is the process's user+system
// CPU time, the stable figure on a shared machine).
'use strict';

const readline = require('node:readline');
const { runSimulation } = require('@cloud-copilot/iam-simulate');

function named(prefix, list) {
  return (list || []).map((policy, i) => ({ name: `${prefix}[${i}]`, policy }));
}

function levels(kind, list) {
  return (list || []).map((lv, i) => ({
    orgIdentifier: lv.orgIdentifier,
    policies: (lv.policies || [])
      .map((policy, j) => ({ name: `${kind}[${i}][${j}]`, policy }))
      .filter((p) => kind !== 'rcp' || !isRcpFullAwsAccess(p.policy)),
  }));
}

// isRcpFullAwsAccess reports whether policy is AWS's RCPFullAWSAccess (one
// statement: Allow, Principal "*", Action "*", Resource "*"). AWS attaches it
// to every node and a case lists it where it applies; runSimulation adds it
// to every level itself and rejects an Allow in a caller's RCP, so it is
// dropped here rather than passed twice.
function isRcpFullAwsAccess(policy) {
  const sts = [policy && policy.Statement].flat();
  if (sts.length !== 1 || !sts[0]) return false;
  const s = sts[0];
  const one = (v) => v === '*' || (Array.isArray(v) && v.length === 1 && v[0] === '*');
  return s.Effect === 'Allow' && one(s.Principal) && one(s.Action) && one(s.Resource) &&
    Object.keys(s).every((k) => ['Sid', 'Effect', 'Principal', 'Action', 'Resource'].includes(k));
}

function present(v) {
  return v !== undefined && v !== null;
}

// toSimulation maps a case to runSimulation's input.
function toSimulation(c) {
  const sim = {
    request: {
      principal: c.request.principal,
      action: c.request.action,
      resource: { resource: c.request.resource.resource, accountId: c.request.resource.accountId },
      contextVariables: c.request.context || {},
    },
    identityPolicies: named('identity', c.identityPolicies),
    serviceControlPolicies: levels('scp', c.serviceControlPolicies),
    resourceControlPolicies: levels('rcp', c.resourceControlPolicies),
  };
  if (present(c.permissionBoundaries)) sim.permissionBoundaryPolicies = named('boundary', c.permissionBoundaries);
  if (present(c.resourcePolicy)) sim.resourcePolicy = c.resourcePolicy;
  if (present(c.sessionPolicy)) sim.sessionPolicy = c.sessionPolicy;
  return sim;
}

// statementName names a statement as "<policy> <Sid or #index>", with a
// 0-based index like iamd's explanations.
function statementName(layer, s) {
  const st = s.statement;
  const sid = st && typeof st.sid === 'function' ? st.sid() : undefined;
  const index = st && typeof st.index === 'function' ? st.index() - 1 : undefined;
  return `${layer} ${s.policyId || layer} ${sid || `#${index}`}`;
}

// summarize picks the decision and the statements that decided it.
function summarize(res) {
  if (res.resultType === 'error') {
    return { decision: 'Error', error: JSON.stringify(res.errors) };
  }
  const out = { decision: res.overallResult };
  if (res.resultType === 'single') {
    const a = res.result.analysis || {};
    const ig = res.result.ignoredContextKeys || [];
    if (ig.length > 0) out.ignoredContextKeys = ig;
    const allows = [];
    const denies = [];
    for (const [layer, an] of [
      ['identity', a.identityAnalysis],
      ['boundary', a.permissionBoundaryAnalysis],
      ['session', a.sessionAnalysis],
      ['resource', a.resourceAnalysis],
    ]) {
      if (!an) continue;
      for (const s of an.allowStatements || []) allows.push(statementName(layer, s));
      for (const s of an.denyStatements || []) denies.push(statementName(layer, s));
    }
    if (allows.length) out.allows = allows;
    if (denies.length) out.denies = denies;
  } else {
    out.wildcard = true;
  }
  return out;
}

async function decide(c) {
  try {
    return summarize(await runSimulation(toSimulation(c), { simulationMode: 'Strict' }));
  } catch (err) {
    return { decision: 'Error', error: String(err && err.stack ? err.stack : err) };
  }
}

async function readLines() {
  const rl = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
  const lines = [];
  for await (const line of rl) if (line.trim() !== '') lines.push(line);
  return lines;
}

async function stream() {
  const rl = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
  let n = 0;
  for await (const line of rl) {
    if (line.trim() === '') continue;
    n++;
    let out;
    try {
      const c = JSON.parse(line);
      out = { line: n, id: c.id || c.name, ...(await decide(c)) };
    } catch (err) {
      out = { line: n, decision: 'Error', error: `parse line ${n}: ${err.message}` };
    }
    process.stdout.write(JSON.stringify(out) + '\n');
  }
}

async function bench(seconds) {
  const cases = (await readLines()).map((l) => JSON.parse(l));
  if (cases.length === 0) throw new Error('bench: no cases on stdin');
  // Warm up: one pass, which also loads the iam-data files it caches.
  for (const c of cases) await decide(c);
  const start = process.hrtime.bigint();
  const cpu0 = process.cpuUsage();
  let decisions = 0;
  let elapsed = 0;
  do {
    for (const c of cases) await decide(c);
    decisions += cases.length;
    elapsed = Number(process.hrtime.bigint() - start) / 1e9;
  } while (elapsed < seconds);
  const cpu = process.cpuUsage(cpu0);
  const cpuSeconds = (cpu.user + cpu.system) / 1e6;
  process.stdout.write(
    JSON.stringify({
      cases: cases.length,
      decisions,
      seconds: elapsed,
      decisionsPerSecond: decisions / elapsed,
      cpuSeconds,
      decisionsPerCpuSecond: decisions / cpuSeconds,
    }) + '\n',
  );
}

const args = process.argv.slice(2);
const main = args[0] === '--bench' ? () => bench(Number(args[1] || '10')) : stream;
main().catch((err) => {
  process.stderr.write(`driver: ${err.stack || err}\n`);
  process.exit(1);
});
