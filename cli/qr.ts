/**
 * A QR code for a terminal: two modules per character cell (upper and lower half blocks), with
 * the quiet zone the standard asks for. Loaded only when a command draws one.
 */
export async function terminalQr(text: string): Promise<string> {
  const { default: QRCode } = await import('qrcode');
  return QRCode.toString(text, { type: 'utf8', errorCorrectionLevel: 'L', margin: 2 });
}
