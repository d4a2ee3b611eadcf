import { describe, expect, it } from 'vitest';
import { LineBuffer } from '../../src/rpc/line-framing.js';

// The newline framing both ends of the agent's socket share (src/rpc/line-framing.ts).

function drain(buffer: LineBuffer): string[] {
  const lines: string[] = [];
  for (let line = buffer.next(); line !== null; line = buffer.next()) lines.push(line);
  return lines;
}

describe('LineBuffer', () => {
  it('joins a line split over chunks, and holds a partial line until its newline arrives', () => {
    const buffer = new LineBuffer();
    buffer.push('{"a":');
    expect(buffer.next()).toBeNull();
    expect(buffer.hasLine()).toBe(false);
    buffer.push('1}\n{"b"');
    expect(drain(buffer)).toEqual(['{"a":1}']);
    expect(buffer.length).toBe(4);
    buffer.push(':2}\n\n');
    expect(drain(buffer)).toEqual(['{"b":2}', '']);
    expect(buffer.length).toBe(0);
  });

  it('lets a reader stop between lines and go on later, nothing lost or repeated', () => {
    const buffer = new LineBuffer();
    buffer.push('one\ntwo\nthr');
    expect(buffer.next()).toBe('one');
    expect(buffer.hasLine()).toBe(true);
    expect(buffer.length).toBe('two\nthr'.length);
    buffer.push('ee\n');
    expect(drain(buffer)).toEqual(['two', 'three']);
  });

  it('counts what it holds in UTF-16 units and in UTF-8 bytes, and forgets it on clear', () => {
    const buffer = new LineBuffer();
    buffer.push('é'.repeat(6));
    expect(buffer.length).toBe(6);
    expect(buffer.exceeds(6)).toBe(false);
    expect(buffer.exceeds(5)).toBe(true);
    buffer.push('\nrest');
    expect(buffer.next()).toBe('é'.repeat(6));
    expect(buffer.exceeds(4)).toBe(false);
    buffer.clear();
    expect(buffer.length).toBe(0);
    expect(buffer.next()).toBeNull();
  });
});
