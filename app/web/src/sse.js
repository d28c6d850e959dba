// A Server-Sent Events reader over fetch(): EventSource cannot send an
// Authorization header, so the console reads the stream itself.

// SSEParser turns text chunks of a text/event-stream into events, following
// the WHATWG parsing rules: lines end in CRLF, LF or CR; a blank line
// dispatches; "data" lines are joined with LF; "id" sets the last event ID
// (kept across events); "retry" sets the reconnection delay; lines starting
// with ":" are comments. onEvent receives {id, type, data}.
export class SSEParser {
  constructor(onEvent, onRetry) {
    this.onEvent = onEvent;
    this.onRetry = onRetry || (() => {});
    this.buf = '';
    this.data = [];
    this.type = '';
    this.lastId = '';
    this.started = false;
  }

  push(chunk) {
    let text = this.buf + chunk;
    if (!this.started && text.length > 0) {
      this.started = true;
      if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    }
    let start = 0;
    for (let i = 0; i < text.length; i++) {
      const c = text[i];
      if (c !== '\n' && c !== '\r') continue;
      // A CR at the very end may be the first half of a CRLF: wait for more.
      if (c === '\r' && i === text.length - 1) break;
      this.line(text.slice(start, i));
      if (c === '\r' && text[i + 1] === '\n') i++;
      start = i + 1;
    }
    this.buf = text.slice(start);
  }

  line(l) {
    if (l === '') { this.dispatch(); return; }
    if (l[0] === ':') return;
    const colon = l.indexOf(':');
    const field = colon < 0 ? l : l.slice(0, colon);
    let value = colon < 0 ? '' : l.slice(colon + 1);
    if (value[0] === ' ') value = value.slice(1);
    switch (field) {
      case 'data': this.data.push(value); break;
      case 'event': this.type = value; break;
      case 'id': if (!value.includes('\0')) this.lastId = value; break;
      case 'retry': if (/^\d+$/.test(value)) this.onRetry(Number(value)); break;
    }
  }

  dispatch() {
    if (this.data.length === 0) { this.type = ''; return; }
    const ev = { id: this.lastId, type: this.type || 'message', data: this.data.join('\n') };
    this.data = [];
    this.type = '';
    this.onEvent(ev);
  }
}
