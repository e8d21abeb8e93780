// ANSI colour codes (SGR) of a log line as DOM nodes: text nodes in spans with classes, never HTML
// parsed from the log, so a task's output cannot inject markup. Other escape sequences are dropped.
const SGR = /\u001b\[([0-9;]*)m/g;
const OTHER = /\u001b(\[[0-9;?]*[A-Za-z]|\][^\u0007]*\u0007|[()][A-Za-z0-9])/g;

export function render(line) {
  const fragment = document.createDocumentFragment();
  const text = line.replace(/\r/g, "");
  let style = { fg: null, bg: null, bold: false, dim: false, italic: false, underline: false };
  let last = 0;
  const emit = (chunk) => {
    const clean = chunk.replace(OTHER, "");
    if (!clean) return;
    const classes = [];
    if (style.fg) classes.push(`ansi-fg-${style.fg}`);
    if (style.bg) classes.push(`ansi-bg-${style.bg}`);
    if (style.bold) classes.push("ansi-bold");
    if (style.dim) classes.push("ansi-dim");
    if (style.italic) classes.push("ansi-italic");
    if (style.underline) classes.push("ansi-underline");
    if (classes.length === 0) { fragment.append(document.createTextNode(clean)); return; }
    const span = document.createElement("span");
    span.className = classes.join(" ");
    span.textContent = clean;
    fragment.append(span);
  };
  for (const match of text.matchAll(SGR)) {
    emit(text.slice(last, match.index));
    last = match.index + match[0].length;
    const codes = match[1] === "" ? [0] : match[1].split(";").map(Number);
    for (let i = 0; i < codes.length; i++) {
      const c = codes[i];
      if (c === 0) style = { fg: null, bg: null, bold: false, dim: false, italic: false, underline: false };
      else if (c === 1) style.bold = true;
      else if (c === 2) style.dim = true;
      else if (c === 3) style.italic = true;
      else if (c === 4) style.underline = true;
      else if (c === 22) { style.bold = false; style.dim = false; }
      else if (c === 23) style.italic = false;
      else if (c === 24) style.underline = false;
      else if ((c >= 30 && c <= 37) || (c >= 90 && c <= 97)) style.fg = c;
      else if (c === 39) style.fg = null;
      else if (c >= 40 && c <= 47) style.bg = c;
      else if (c === 49) style.bg = null;
      else if ((c === 38 || c === 48) && codes[i + 1] === 5) i += 2;   // 256 colours: kept plain
      else if ((c === 38 || c === 48) && codes[i + 1] === 2) i += 4;   // true colour: kept plain
    }
  }
  emit(text.slice(last));
  return fragment;
}
