// A line diff (longest common subsequence) for showing a code parameter
// against the spec's baseline.

// Returns [{op: ' ' | '-' | '+', text}] turning a into b, or null when the
// texts are too long to compare here.
export function diffLines(a, b) {
  const x = a.split('\n');
  const y = b.split('\n');
  /* common head and tail first: most edits are local */
  let head = 0;
  while (head < x.length && head < y.length && x[head] === y[head]) head++;
  let tail = 0;
  while (tail < x.length - head && tail < y.length - head && x[x.length - 1 - tail] === y[y.length - 1 - tail]) tail++;
  const xs = x.slice(head, x.length - tail);
  const ys = y.slice(head, y.length - tail);
  const n = xs.length;
  const m = ys.length;
  if (n * m > 4e6) return null;
  const w = m + 1;
  const L = new Uint32Array((n + 1) * w);
  for (let i = n - 1; i >= 0; i--) {
    for (let j = m - 1; j >= 0; j--) {
      L[i * w + j] = xs[i] === ys[j] ? L[(i + 1) * w + j + 1] + 1 : Math.max(L[(i + 1) * w + j], L[i * w + j + 1]);
    }
  }
  const out = x.slice(0, head).map((text) => ({ op: ' ', text }));
  let i = 0;
  let j = 0;
  while (i < n && j < m) {
    if (xs[i] === ys[j]) {
      out.push({ op: ' ', text: xs[i] });
      i++;
      j++;
    } else if (L[(i + 1) * w + j] >= L[i * w + j + 1]) {
      out.push({ op: '-', text: xs[i++] });
    } else {
      out.push({ op: '+', text: ys[j++] });
    }
  }
  while (i < n) out.push({ op: '-', text: xs[i++] });
  while (j < m) out.push({ op: '+', text: ys[j++] });
  for (const text of x.slice(x.length - tail)) out.push({ op: ' ', text });
  return out;
}

// Collapse runs of unchanged lines longer than 2 * context + 1 to a marker
// {op: '…', text: 'N unchanged lines'}.
export function collapse(lines, context = 3) {
  const out = [];
  let run = [];
  const flush = (atStart, atEnd) => {
    const keepHead = atStart ? 0 : context;
    const keepTail = atEnd ? 0 : context;
    if (run.length > keepHead + keepTail + 1) {
      out.push(...run.slice(0, keepHead));
      out.push({ op: '…', text: `${run.length - keepHead - keepTail} unchanged lines` });
      out.push(...run.slice(run.length - keepTail));
    } else out.push(...run);
    run = [];
  };
  let seenChange = false;
  for (const l of lines) {
    if (l.op === ' ') run.push(l);
    else {
      flush(!seenChange, false);
      seenChange = true;
      out.push(l);
    }
  }
  flush(!seenChange, true);
  return out;
}
