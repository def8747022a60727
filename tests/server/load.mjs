// load.mjs — a bounded load test of `owl serve` (not part of ctest): N requests, C at a time, greedy, each
// streaming max_tokens tokens (ignore_eos, so every request generates the same amount). Prints requests/s,
// generated tokens/s, and p50/p99 of the whole-request latency and of the time to first token.
//   node tests/server/load.mjs URL [--requests 200] [--concurrency 32] [--max-tokens 64] [--api-key KEY]
const url = process.argv[2];
if (!url) {
  console.error('usage: node load.mjs URL [--requests N] [--concurrency C] [--max-tokens T] [--api-key KEY]');
  process.exit(2);
}
const arg = (name, def) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : def;
};
const N = Number(arg('--requests', 200)), C = Number(arg('--concurrency', 32)), T = Number(arg('--max-tokens', 64));
const key = arg('--api-key', 'none');

async function one(i) {
  const t0 = performance.now();
  const r = await fetch(url + '/v1/chat/completions', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Authorization: 'Bearer ' + key },
    body: JSON.stringify({
      messages: [{ role: 'user', content: `request ${i}: tell me about the cat that sat on the mat` }],
      temperature: 0, max_tokens: T, ignore_eos: true, stream: true, stream_options: { include_usage: true },
    }),
  });
  if (r.status !== 200) return { status: r.status, ms: performance.now() - t0 };
  let ttft = null, tokens = 0, buf = '';
  const dec = new TextDecoder();
  for await (const chunk of r.body) {
    if (ttft === null) ttft = performance.now() - t0;
    buf += dec.decode(chunk, { stream: true });
    let k;
    while ((k = buf.indexOf('\n\n')) >= 0) {
      const ev = buf.slice(0, k);
      buf = buf.slice(k + 2);
      if (ev.startsWith('data: {')) {
        const j = JSON.parse(ev.slice(6));
        if (j.usage) tokens = j.usage.completion_tokens;
      }
    }
  }
  return { status: 200, ms: performance.now() - t0, ttft, tokens };
}

const pct = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)] : NaN;
};

const results = [];
let next = 0;
const t0 = performance.now();
await Promise.all(Array.from({ length: C }, async () => {
  while (next < N) results.push(await one(next++));
}));
const wall = (performance.now() - t0) / 1000;
const ok = results.filter((r) => r.status === 200);
const tokens = ok.reduce((a, r) => a + r.tokens, 0);
console.log(`requests ${N}, concurrency ${C}, max_tokens ${T}: ${ok.length} ok, ${N - ok.length} failed ` +
  `(${[...new Set(results.filter((r) => r.status !== 200).map((r) => r.status))].join(',') || 'none'})`);
console.log(`wall ${wall.toFixed(2)} s: ${(ok.length / wall).toFixed(2)} req/s, ${(tokens / wall).toFixed(1)} generated tok/s`);
console.log(`latency p50 ${pct(ok.map((r) => r.ms), 50).toFixed(0)} ms, p99 ${pct(ok.map((r) => r.ms), 99).toFixed(0)} ms; ` +
  `time to first token p50 ${pct(ok.map((r) => r.ttft), 50).toFixed(0)} ms, p99 ${pct(ok.map((r) => r.ttft), 99).toFixed(0)} ms`);
process.exit(ok.length === N ? 0 : 1);
