import pngjs from 'pngjs';
import QRCode from 'qrcode';
import { describe, expect, it } from 'vitest';
import { QR_OPTIONS, qrPng } from '../../bots/core/qr-png.js';

const { PNG } = pngjs;

/** Whether each pixel is dark (a QR module), row by row. */
function darkPixels(png: Buffer): { width: number; height: number; dark: boolean[] } {
  const image = PNG.sync.read(png);
  const dark: boolean[] = [];
  for (let i = 0; i < image.width * image.height; i++) dark.push(image.data[i * 4]! < 128);
  return { width: image.width, height: image.height, dark };
}

describe('the bots’ QR PNG', () => {
  it('is the same picture as qrcode’s own PNG, pixel for pixel, for short and long texts', async () => {
    for (const text of [
      'x',
      'https://relay.example.org/i#AYBnoA35FRSANLI4GUftTdt2YGVx_VQWayC31hj0jacgG2sD2JgAAciy23M5GtNRMBR5y',
      `pairlink://invite/${'A'.repeat(300)}`,
    ]) {
      const ours = darkPixels(await qrPng(text));
      const theirs = darkPixels(await QRCode.toBuffer(text, { type: 'png', ...QR_OPTIONS }));
      expect(ours.width).toBe(theirs.width);
      expect(ours.height).toBe(theirs.height);
      expect(ours.dark).toEqual(theirs.dark);
      expect(ours.dark.some((d) => d)).toBe(true);
    }
  });
});
