// e2e.mjs — `owl serve` end to end with the official `openai` npm client (and raw fetch where the test needs
// status codes, headers or a cut connection). Run by test_server_e2e.c:
//   node e2e.mjs OWL_BINARY MODEL_DIR OPENAI_PACKAGE_DIR
// Starts two servers on loopback (port 0: the server prints the port it got): a main one (4 slots, an API key,
// a small body cap, 2 ms per engine step) and a small one (1 slot, queue 1, 5 ms per step so that a long
// request takes far longer than the test waits) for disconnects and 429s. One forward thread each: the
// fixture model is tiny, and ctest runs other tests beside this one. Exits non-zero on the first failed check;
// both servers must exit 0 on SIGTERM.
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import assert from 'node:assert/strict';

const [owl, modelDir, pkgDir] = process.argv.slice(2);
const require = createRequire(pkgDir + '/');
const OpenAI = require('openai').default ?? require('openai');
const KEY = 'test-key';

function startServer(args) {
  return new Promise((resolve, reject) => {
    const p = spawn(owl, ['serve', modelDir, '--port', '0', ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    const timer = setTimeout(() => reject(new Error('server did not start: ' + out)), 30000);
    p.stdout.on('data', (d) => {
      out += d;
      const m = out.match(/listening on (http:\/\/[0-9.]+:(\d+))/);
      if (m) {
        clearTimeout(timer);
        resolve({ proc: p, url: m[1] });
      }
    });
    p.on('exit', (code) => reject(new Error(`server exited early (${code}): ${out}`)));
  });
}

function stopServer(s) {
  return new Promise((resolve) => {
    s.proc.removeAllListeners('exit');
    s.proc.on('exit', (code, sig) => resolve({ code, sig }));
    s.proc.kill('SIGTERM');
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function health(url) {
  return (await fetch(url + '/health')).json();
}

async function metric(url, name) {
  const text = await (await fetch(url + '/metrics')).text();
  const m = text.match(new RegExp('^owl_' + name + ' ([0-9.e+-]+)$', 'm'));
  assert.ok(m, `metric ${name} missing`);
  return Number(m[1]);
}

async function post(url, path, body, headers = {}) {
  const r = await fetch(url + path, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Authorization: 'Bearer ' + KEY, ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await r.text();
  let json = null;
  try { json = JSON.parse(text); } catch { /* SSE or junk */ }
  return { status: r.status, headers: r.headers, text, json };
}

function checkError(r, status, what) {
  assert.equal(r.status, status, `${what}: status ${r.status} ${r.text}`);
  assert.ok(r.json && r.json.error, `${what}: no error object: ${r.text}`);
  assert.equal(typeof r.json.error.message, 'string', what);
  assert.ok(r.json.error.message.length > 0, what);
  assert.equal(typeof r.json.error.type, 'string', what);
  assert.ok('param' in r.json.error && 'code' in r.json.error, what);
}

// Usage equal but for prompt_tokens_details.cached_tokens, which depends on what the slot held before.
function sameUsage(a, b, what) {
  const { prompt_tokens_details: da, ...ua } = a;
  const { prompt_tokens_details: db, ...ub } = b;
  assert.deepEqual(ua, ub, what);
  assert.equal(typeof da.cached_tokens, 'number', what);
  assert.equal(typeof db.cached_tokens, 'number', what);
}

async function streamChat(client, body, opts = {}) {
  const stream = await client.chat.completions.create({ ...body, stream: true, stream_options: { include_usage: true } }, opts);
  let content = '', reasoning = '', finish = null, usage = null, n = 0;
  for await (const chunk of stream) {
    n++;
    if (chunk.usage) usage = chunk.usage;
    for (const c of chunk.choices) {
      if (c.delta?.content) content += c.delta.content;
      if (c.delta?.reasoning_content) reasoning += c.delta.reasoning_content;
      if (c.finish_reason) finish = c.finish_reason;
    }
  }
  return { content, reasoning, finish, usage, n };
}

const checks = [];
async function check(name, fn) {
  const t0 = Date.now();
  await fn();
  checks.push(name);
  console.log(`ok ${checks.length} - ${name} (${Date.now() - t0} ms)`);
}

const main = await startServer(['--parallel', '16', '--batch', '16', '--api-key', KEY, '--max-body', '65536', '--ctx', '4096',
  '--step-delay-ms', '2', '--threads', '1']);
const small = await startServer(['--parallel', '1', '--batch', '16', '--queue', '1', '--step-delay-ms', '5', '--alias', 'tiny',
  '--threads', '1']);
const tiny = new OpenAI({ baseURL: small.url + '/v1', apiKey: 'none', maxRetries: 0, timeout: 60000 });
const client = new OpenAI({ baseURL: main.url + '/v1', apiKey: KEY, maxRetries: 0, timeout: 60000 });
let modelId;
try {
  await check('GET /v1/models, /health, /metrics', async () => {
    const models = await client.models.list();
    assert.equal(models.data.length, 1);
    modelId = models.data[0].id;
    assert.equal(models.data[0].object, 'model');
    const h = await health(main.url);
    assert.equal(h.status, 'ok');
    assert.equal(h.slots_total, 16);
    assert.equal(await metric(main.url, 'slots_total'), 16);
  });

  const chatBody = () => ({ model: modelId, messages: [{ role: 'system', content: 'be brief' },
    { role: 'user', content: 'the cat sat on the mat' }], temperature: 0, max_tokens: 16 });

  let whole;
  await check('chat non-stream: fields and usage', async () => {
    whole = await client.chat.completions.create(chatBody());
    assert.equal(whole.object, 'chat.completion');
    assert.equal(whole.model, modelId);
    const c = whole.choices[0];
    assert.equal(c.message.role, 'assistant');
    assert.equal(typeof c.message.content, 'string');
    assert.ok(['stop', 'length'].includes(c.finish_reason));
    assert.ok(c.message.reasoning_content === undefined || typeof c.message.reasoning_content === 'string');
    assert.ok(whole.usage.prompt_tokens > 0);
    assert.ok(whole.usage.completion_tokens >= 1 && whole.usage.completion_tokens <= 16);
    assert.equal(whole.usage.total_tokens, whole.usage.prompt_tokens + whole.usage.completion_tokens);
    assert.equal(typeof whole.usage.completion_tokens_details.reasoning_tokens, 'number');
    assert.ok(whole.usage.completion_tokens_details.reasoning_tokens <= whole.usage.completion_tokens);
  });

  await check('chat stream equals non-stream (greedy), usage chunk', async () => {
    const s = await streamChat(client, chatBody());
    assert.equal(s.content, whole.choices[0].message.content);
    assert.equal(s.reasoning, whole.choices[0].message.reasoning_content ?? '');
    assert.equal(s.finish, whole.choices[0].finish_reason);
    sameUsage(s.usage, whole.usage, 'stream vs non-stream');
  });

  await check('raw SSE ends with data: [DONE]', async () => {
    const r = await post(main.url, '/v1/chat/completions', { ...chatBody(), stream: true });
    assert.equal(r.status, 200);
    assert.match(r.headers.get('content-type'), /text\/event-stream/);
    assert.ok(r.text.endsWith('data: [DONE]\n\n'), r.text.slice(-80));
    for (const ev of r.text.split('\n\n').filter((e) => e && e !== 'data: [DONE]'))
      assert.ok(ev.startsWith('data: {'), ev);
  });

  await check('max_tokens / max_completion_tokens', async () => {
    for (const key of ['max_tokens', 'max_completion_tokens']) {
      const r = await client.chat.completions.create({ ...chatBody(), max_tokens: undefined, [key]: 7, ignore_eos: true });
      assert.equal(r.usage.completion_tokens, 7, key);
      assert.equal(r.choices[0].finish_reason, 'length', key);
    }
  });

  await check('reasoning control: every form turns Qwen3 thinking off the same way', async () => {
    const tokens = async (extra) =>
      (await client.chat.completions.create({ ...chatBody(), max_tokens: 1, ...extra })).usage.prompt_tokens;
    const on = await tokens({});
    const off = await tokens({ reasoning_effort: 'none' });
    assert.ok(off > on, `thinking off adds the empty think block: ${off} vs ${on}`);
    assert.equal(await tokens({ reasoning_effort: 'minimal' }), off);
    assert.equal(await tokens({ reasoning: { effort: 'none' } }), off);
    assert.equal(await tokens({ chat_template_kwargs: { enable_thinking: false } }), off);
    assert.equal(await tokens({ chat_template_kwargs: { thinking: false } }), off);
    assert.equal(await tokens({ reasoning_effort: 'high' }), on);
    assert.equal(await tokens({ chat_template_kwargs: { enable_thinking: true } }), on);
  });

  await check('completions: non-stream, stream, stop sequences', async () => {
    const body = { model: modelId, prompt: 'the cat sat on', temperature: 0, max_tokens: 40, ignore_eos: true };
    const a = await client.completions.create(body);
    assert.equal(a.object, 'text_completion');
    const text = a.choices[0].text;
    assert.equal(a.choices[0].finish_reason, 'length');
    let streamed = '';
    for await (const ch of await client.completions.create({ ...body, stream: true })) streamed += ch.choices[0]?.text ?? '';
    assert.equal(streamed, text);
    // a stop string taken from the middle of the greedy output cuts the output right before it
    const chars = [...text];
    assert.ok(chars.length > 12, 'output long enough: ' + JSON.stringify(text));
    const stop = chars.slice(6, 9).join('');
    const cut = text.slice(0, text.indexOf(stop));
    const b = await client.completions.create({ ...body, stop: [stop, 'never-seen-xyz'] });
    assert.equal(b.choices[0].text, cut);
    assert.equal(b.choices[0].finish_reason, 'stop');
    let s2 = '';
    let fin = null;
    for await (const ch of await client.completions.create({ ...body, stop, stream: true })) {
      s2 += ch.choices[0]?.text ?? '';
      fin = ch.choices[0]?.finish_reason ?? fin;
    }
    assert.equal(s2, cut);
    assert.equal(fin, 'stop');
  });

  await check('chat stop sequence', async () => {
    const body = { ...chatBody(), max_tokens: 40, ignore_eos: true, chat_template_kwargs: { enable_thinking: false } };
    const a = await client.chat.completions.create(body);
    const text = a.choices[0].message.content;
    const chars = [...text];
    if (chars.length > 10) {
      const stop = chars.slice(4, 7).join('');
      const b = await client.chat.completions.create({ ...body, stop });
      assert.equal(b.choices[0].message.content, text.slice(0, text.indexOf(stop)));
      assert.equal(b.choices[0].finish_reason, 'stop');
    }
  });

  await check('16 concurrent streams equal the same requests run one at a time (greedy)', async () => {
    const bodies = Array.from({ length: 16 }, (_, i) => ({
      model: modelId, temperature: 0, max_tokens: 12 + (i % 5) * 4, ignore_eos: true,
      messages: [{ role: 'user', content: `request ${i}: ` + 'the cat sat on the mat '.repeat(1 + (i % 4) * 20) }],
    }));
    const serial = [];
    for (const b of bodies) serial.push(await streamChat(client, b));
    const before = await metric(main.url, 'requests_total');
    const steps0 = await metric(main.url, 'decode_steps_total');
    const seqs0 = await metric(main.url, 'decode_batch_tokens_total');
    const concurrent = await Promise.all(bodies.map((b) => streamChat(client, b)));
    // continuous batching: the 16 streams shared decode forwards (16 slots: batches past the 8 tokens
    // where a matmul would take the prefill GEMM, so this also proves the row-exact batched decode)
    const steps = (await metric(main.url, 'decode_steps_total')) - steps0;
    const seqs = (await metric(main.url, 'decode_batch_tokens_total')) - seqs0;
    assert.ok(steps > 0 && seqs / steps >= 2, `mean decode batch ${seqs}/${steps}`);
    console.log(`# concurrent phase: ${seqs} sequence-steps in ${steps} decode forwards (mean batch ${(seqs / steps).toFixed(1)})`);
    for (let i = 0; i < 16; i++) {
      assert.equal(concurrent[i].content, serial[i].content, `request ${i}`);
      assert.equal(concurrent[i].reasoning, serial[i].reasoning, `request ${i}`);
      sameUsage(concurrent[i].usage, serial[i].usage, `request ${i}`);
    }
    assert.equal(await metric(main.url, 'requests_total'), before + 16);
  });

  await check('a second turn reuses the first turn\'s prompt from the slot cache, output unchanged', async () => {
    const system = 'You are a careful assistant who answers briefly. '.repeat(12);
    const turn1 = [{ role: 'system', content: system }, { role: 'user', content: 'tell me about the mat' }];
    const r1 = await streamChat(client, { model: modelId, temperature: 0, max_tokens: 6, ignore_eos: true,
      messages: turn1 });
    const turn2 = [...turn1, { role: 'assistant', content: r1.content }, { role: 'user', content: 'and the cat?' }];
    const cached0 = await metric(main.url, 'prompt_tokens_cached_total');
    const r2 = await streamChat(client, { model: modelId, temperature: 0, max_tokens: 6, ignore_eos: true,
      messages: turn2 });
    const cached = r2.usage.prompt_tokens_details.cached_tokens;
    // at least the system prompt's whole 16-token chunks, and never the last prompt token
    assert.ok(cached >= 64 && cached % 16 === 0 && cached < r2.usage.prompt_tokens, `cached ${cached}`);
    assert.equal(await metric(main.url, 'prompt_tokens_cached_total'), cached0 + cached);
    // the same request on a server whose one slot holds something else computes the prompt afresh
    const other = await streamChat(tiny, { model: 'tiny', temperature: 0, max_tokens: 2, messages: [{ role: 'user', content: 'x' }] });
    assert.ok(other.usage);
    const fresh = await streamChat(tiny, { model: 'tiny', temperature: 0, max_tokens: 6, ignore_eos: true, messages: turn2 });
    assert.equal(fresh.usage.prompt_tokens_details.cached_tokens, 0);
    assert.equal(fresh.content, r2.content);
    assert.equal(fresh.reasoning, r2.reasoning);
  });

  // 3500 tokens at >= 5 ms per step take > 17 s: a slot free within 10 s was freed by the disconnect
  const waitIdle = async (url) => {
    const t0 = Date.now();
    let h;
    do { await sleep(50); h = await health(url); } while (h.slots_busy > 0 && Date.now() - t0 < 10000);
    return h;
  };

  await check('a stream cut mid-way frees its slot', async () => {
    const cancelled = await metric(small.url, 'requests_cancelled_total');
    const ac = new AbortController();
    const stream = await tiny.chat.completions.create({ model: 'tiny', messages: chatBody().messages, max_tokens: 3500,
      ignore_eos: true, stream: true }, { signal: ac.signal });
    let n = 0;
    try {
      for await (const chunk of stream) { // eslint-disable-line no-unused-vars
        if (++n === 5) ac.abort();
      }
    } catch (e) {
      assert.ok(e.name === 'AbortError' || /abort/i.test(String(e)), String(e));
    }
    assert.equal((await waitIdle(small.url)).slots_busy, 0, 'slot still busy 10 s after the disconnect');
    assert.equal(await metric(small.url, 'requests_cancelled_total'), cancelled + 1);
    assert.equal(await metric(small.url, 'kv_cache_used_tokens'), 0);
  });

  await check('a non-stream request whose client goes away frees its slot', async () => {
    const cancelled = await metric(small.url, 'requests_cancelled_total');
    const ac = new AbortController();
    const p = fetch(small.url + '/v1/completions', { method: 'POST', signal: ac.signal,
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ prompt: 'the cat', max_tokens: 3500, ignore_eos: true }) }).catch((e) => e);
    await sleep(300);
    ac.abort();
    await p;
    assert.equal((await waitIdle(small.url)).slots_busy, 0, 'slot still busy 10 s after the disconnect');
    assert.equal(await metric(small.url, 'requests_cancelled_total'), cancelled + 1);
  });

  await check('bad requests: 400/401/404/405/413 with OpenAI error JSON', async () => {
    const chat = '/v1/chat/completions';
    checkError(await post(main.url, chat, '{"messages": [', {}), 400, 'malformed JSON');
    checkError(await post(main.url, chat, '[1, 2]'), 400, 'not an object');
    checkError(await post(main.url, chat, { messages: 'hi' }), 400, 'messages not an array');
    checkError(await post(main.url, chat, { messages: [] }), 400, 'empty messages');
    checkError(await post(main.url, chat, { messages: [{ content: 'x' }] }), 400, 'no role');
    checkError(await post(main.url, chat, { messages: [{ role: 'wizard', content: 'x' }] }), 400, 'unknown role');
    for (const [k, v] of [['temperature', 'hot'], ['temperature', 7], ['max_tokens', -1], ['max_tokens', 1.5],
      ['top_p', 'x'], ['stream', 'yes'], ['stop', 5], ['stop', ['a', 'b', 'c', 'd', 'e']], ['seed', 'x'],
      ['reasoning_effort', 'extreme'], ['reasoning', 'high'], ['chat_template_kwargs', { enable_thinking: 'no' }],
      ['n', 2], ['presence_penalty', 3]]) {
      const r = await post(main.url, chat, { ...chatBody(), [k]: v });
      checkError(r, 400, `${k}=${JSON.stringify(v)}`);
      if (!['chat_template_kwargs', 'reasoning'].includes(k)) assert.equal(r.json.error.param, k);
    }
    const unknownModel = await post(main.url, chat, { ...chatBody(), model: 'gpt-4o' });
    checkError(unknownModel, 400, 'unknown model');
    assert.equal(unknownModel.json.error.code, 'model_not_found');
    const long = await post(main.url, '/v1/completions', { prompt: 'the cat sat on the mat '.repeat(900), max_tokens: 4 });
    checkError(long, 400, 'prompt longer than the context');
    assert.equal(long.json.error.code, 'context_length_exceeded');
    checkError(await post(main.url, '/v1/completions', { prompt: 12 }), 400, 'prompt not a string');
    checkError(await post(main.url, '/v1/completions', { prompt: 'x'.repeat(70000) }), 413, 'body over the cap');
    checkError(await post(main.url, chat, chatBody(), { Authorization: 'Bearer wrong' }), 401, 'bad key');
    checkError(await post(main.url, '/v1/nothing', {}), 404, 'unknown path');
    checkError(await (async () => {
      const r = await fetch(main.url + '/v1/chat/completions', { headers: { Authorization: 'Bearer ' + KEY } });
      return { status: r.status, text: await r.text(), json: null };
    })().then((r) => ({ ...r, json: JSON.parse(r.text) })), 405, 'GET on a POST endpoint');
    // unknown fields are ignored
    const ok = await post(main.url, chat, { ...chatBody(), max_tokens: 2, frobnicate: { a: 1 }, user: 'u', logit_bias: {} });
    assert.equal(ok.status, 200, ok.text);
    // the official client surfaces a 400 as BadRequestError
    await assert.rejects(client.chat.completions.create({ ...chatBody(), temperature: 9 }), (e) => e.status === 400);
    assert.ok((await health(main.url)).status === 'ok');
  });

  await check('over capacity: 429 with Retry-After', async () => {
    const body = { prompt: 'the cat', max_tokens: 200, ignore_eos: true };
    const rs = await Promise.all(Array.from({ length: 6 }, () => post(small.url, '/v1/completions', body)));
    const codes = rs.map((r) => r.status).sort();
    assert.ok(codes.includes(200), codes.join(','));
    const limited = rs.filter((r) => r.status === 429);
    assert.ok(limited.length >= 1, codes.join(','));
    for (const r of limited) {
      checkError(r, 429, '429');
      assert.equal(r.headers.get('retry-after'), '1');
    }
    const many = await Promise.allSettled(Array.from({ length: 6 }, () =>
      tiny.completions.create({ model: 'tiny', ...body })));
    assert.ok(many.some((r) => r.status === 'rejected' && r.reason.status === 429));
    assert.ok(many.some((r) => r.status === 'fulfilled'));
    assert.ok(await metric(small.url, 'requests_rejected_total') >= 2);
  });
} finally {
  const a = await stopServer(main), b = await stopServer(small);
  assert.deepEqual(a, { code: 0, sig: null }, 'main server exit');
  assert.deepEqual(b, { code: 0, sig: null }, 'small server exit');
}
console.log(`${checks.length} checks passed`);
