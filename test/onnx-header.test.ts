/**
 * lib/onnx/header.ts: the IR version, producer and opsets of a model file, read with
 * positioned reads that jump over the graph.
 */
import { rmSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { formatOpsets, readOnnxHeader } from '../lib/onnx/header';
import { ProtoWriter } from '../lib/onnx/protobuf';
import { testkitDecoderBytes, testkitFixtureBytes } from '../lib/testkit';
import { tempDir } from './helpers';

const work = tempDir('onnx-header');
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('readOnnxHeader', () => {
  it('reads IR version, producer and opsets, skipping the graph', () => {
    const file = path.join(work, 'dec.onnx');
    writeFileSync(file, testkitDecoderBytes());
    const h = readOnnxHeader(file);
    expect(h.irVersion).toBe(8);
    expect(h.producer).toBe('p2sam-native-testkit');
    expect(formatOpsets(h.opsets)).toBe('ai.onnx 17');
  });

  it('reads a varint that straddles its 64 KiB read window', () => {
    // producer_version padded so that ir_version's 6-byte varint starts 2 bytes before
    // the first window ends: tag (1) + length (3) + padding + tag (1) = 65534.
    const padding = 65534 - 1 - 3 - 1;
    const bytes = new ProtoWriter()
      .string(3, 'v'.repeat(padding))
      .int64(1, 2 ** 40 + 5)
      .message(8, (w) => w.string(1, 'com.example').int64(2, 3))
      .finish();
    const file = path.join(work, 'window.onnx');
    writeFileSync(file, bytes);
    const h = readOnnxHeader(file);
    expect(h.irVersion).toBe(2 ** 40 + 5);
    expect(h.producerVersion).toHaveLength(padding);
    expect(formatOpsets(h.opsets)).toBe('com.example 3');
  });

  it('throws on a truncated model instead of reading past the end', () => {
    const file = path.join(work, 'trunc.onnx');
    writeFileSync(file, testkitFixtureBytes('truncated-model'));
    expect(() => readOnnxHeader(file)).toThrow(/end of the file|end of file/);
  });
});
