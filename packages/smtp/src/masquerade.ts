// `senders <t> masquerade` (REFERENCE 1.3, 7.4): on an authenticated session the address of each
// mailbox in the From: field becomes the envelope sender, as OpenSMTPD rewrites it — the part
// between angle brackets when there is one, else the last word outside comments; groups and
// fields that do not parse (open quote, comment or bracket) are left alone. Folding is kept.

/** Splits a field body at the commas that separate addresses (outside quotes and comments). */
function splitAddresses(body: string): string[] {
  const parts: string[] = [];
  let start = 0;
  let quote = false;
  let comment = 0;
  let escape = false;
  for (let i = 0; i < body.length; i++) {
    const c = body[i];
    if (escape) { escape = false; continue; }
    if (c === '\\') escape = true;
    else if (c === '"' && comment === 0) quote = !quote;
    else if (c === '(' && !quote) comment++;
    else if (c === ')' && !quote && comment > 0) comment--;
    else if (c === ',' && !quote && comment === 0) {
      parts.push(body.slice(start, i));
      start = i + 1;
    }
  }
  parts.push(body.slice(start));
  return parts;
}

const isSpace = (c: string | undefined): boolean => c === ' ' || c === '\t' || c === '\n' || c === '\r';

/** One address of the field with its mailbox replaced by `address`; unchanged when it does not parse. */
export function rewriteAddress(text: string, address: string): string {
  let quote = false;
  let comment = 0;
  let escape = false;
  let bracket = 0;
  let begin = -1;
  let end = -1;
  let lastWordEnd = -1;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    const wasEscaped: boolean = escape;
    escape = !wasEscaped && c === '\\' && comment === 0 && !quote;
    if (!wasEscaped) {
      if (c === '(' && !quote) comment++;
      else if (c === ')' && !quote && comment > 0) { comment--; continue; }
      else if (c === '"' && comment === 0) quote = !quote;
      else if (c === '<' && comment === 0 && !quote && bracket === 0) { bracket = 1; begin = i + 1; }
      else if (c === '>' && comment === 0 && !quote && bracket === 1) { bracket = 0; end = i; }
      else if (c === ':' && comment === 0 && !quote) return text; // a group: left alone
    }
    if (comment === 0 && !isSpace(c)) lastWordEnd = i;
  }
  if (escape || quote || comment > 0 || bracket > 0) return text;
  if (begin >= 0 && end >= begin) return text.slice(0, begin) + address + text.slice(end);
  if (lastWordEnd < 0) return text;
  let wordStart = lastWordEnd;
  while (wordStart > 0 && !isSpace(text[wordStart - 1]) && text[wordStart - 1] !== ')') wordStart--;
  return text.slice(0, wordStart) + address + text.slice(lastWordEnd + 1);
}

/** The From: field (whole, with its name and folding) with every address set to `address`. */
export function masqueradeFrom(field: string, address: string): string {
  const colon = field.indexOf(':');
  if (colon < 0 || address === '') return field;
  const body = field.slice(colon + 1);
  return field.slice(0, colon + 1) + splitAddresses(body).map((a) => rewriteAddress(a, address)).join(',');
}
