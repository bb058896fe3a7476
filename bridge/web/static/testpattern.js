// The Salon test pattern in the browser: draw it (a canvas source that carries
// its capture time) and read the time back from a received video.
//
// Bit-compatible twin of appliance/media/testpattern.py: same cell layout,
// same bits, same pixels. Near the top of the frame a band of 2 × 32 black/
// white cells carries the capture time in ms since the epoch:
//   cells 0..3 start marker 1010 · 4..51 48-bit time, MSB first ·
//   52..59 CRC-8 (poly 0x07) of the 6 time bytes · 60..63 end marker 0101.
// Cells sit at fixed fractions of the frame, so a scaled frame reads fine.

export const COLS = 32;
export const ROWS = 2;
const START_MARKER = [1, 0, 1, 0];
const END_MARKER = [0, 1, 0, 1];
const TIME_BITS = 48;
const CRC_BITS = 8;
const MIN_CONTRAST = 64;
const BARS = [
  [191, 191, 191], [191, 191, 0], [0, 191, 191], [0, 191, 0],
  [191, 0, 191], [191, 0, 0], [0, 0, 191], [32, 32, 32],
];
const SCROLL_PERIOD_MS = 4000;
const BOUNCE_PERIOD_MS = 3000;
const GREY = 128;

/** Round half up (Math.round), matching testpattern.whole_ms. */
const wholeMs = (tMs) => Math.floor(tMs + 0.5);

export function crc8(bytes) {
  let crc = 0;
  for (const byte of bytes) {
    crc ^= byte;
    for (let i = 0; i < 8; i++) {
      crc = crc & 0x80 ? ((crc << 1) ^ 0x07) & 0xff : (crc << 1) & 0xff;
    }
  }
  return crc;
}

// 48-bit integers are exact in doubles; avoid 32-bit bitwise operators on them.
function timeBytes(value) {
  const bytes = [];
  for (let k = TIME_BITS / 8 - 1; k >= 0; k--) bytes.push(Math.floor(value / 2 ** (8 * k)) % 256);
  return bytes;
}

/** The 64 cell values for a capture time in ms since the epoch. */
export function encodeBits(tMs) {
  const value = wholeMs(tMs) % 2 ** TIME_BITS;
  const check = crc8(timeBytes(value));
  const bits = [...START_MARKER];
  for (let i = TIME_BITS - 1; i >= 0; i--) bits.push(Math.floor(value / 2 ** i) % 2);
  for (let i = CRC_BITS - 1; i >= 0; i--) bits.push((check >> i) & 1);
  return bits.concat(END_MARKER);
}

/** Milliseconds from 64 cell values, or null if markers or CRC disagree. */
export function decodeBits(bits) {
  if (bits.length !== COLS * ROWS) return null;
  for (let i = 0; i < 4; i++) {
    if (bits[i] !== START_MARKER[i] || bits[bits.length - 4 + i] !== END_MARKER[i]) return null;
  }
  let value = 0;
  for (const bit of bits.slice(4, 4 + TIME_BITS)) value = value * 2 + bit;
  let check = 0;
  for (const bit of bits.slice(4 + TIME_BITS, 4 + TIME_BITS + CRC_BITS)) check = check * 2 + bit;
  return crc8(timeBytes(value)) === check ? value : null;
}

export function cellEdges(w, h) {
  const xs = [];
  for (let k = 0; k <= COLS; k++) xs.push(Math.floor((w * (32 + 18 * k)) / 640));
  const ys = [];
  for (let r = 0; r <= ROWS; r++) ys.push(Math.floor((h * (4 + 5 * r)) / 80));
  return { xs, ys };
}

function cellBoxes(w, h) {
  const { xs, ys } = cellEdges(w, h);
  const boxes = [];
  for (let r = 0; r < ROWS; r++) {
    for (let c = 0; c < COLS; c++) boxes.push([xs[c], ys[r], xs[c + 1], ys[r + 1]]);
  }
  return boxes;
}

function bandFrame(w, h) {
  const { xs, ys } = cellEdges(w, h);
  const pad = Math.max(1, Math.floor((ys[1] - ys[0]) / 4));
  return [Math.max(0, xs[0] - pad), Math.max(0, ys[0] - pad), xs[COLS] + pad, ys[ROWS] + pad];
}

/** Scroll offset, square and sweep at time t (same as TestPattern.geometry). */
export function geometry(w, h, tMs) {
  const t = wholeMs(tMs);
  const offset = Math.floor((w * (t % SCROLL_PERIOD_MS)) / SCROLL_PERIOD_MS);
  const side = Math.floor(h / 6);
  const phase = t % BOUNCE_PERIOD_MS;
  const half = Math.floor(BOUNCE_PERIOD_MS / 2);
  const travel = w - side;
  const sx = phase < half
    ? Math.floor((travel * phase) / half)
    : Math.floor((travel * (BOUNCE_PERIOD_MS - phase)) / half);
  const sy = Math.floor((h * 3) / 5) - Math.floor(side / 2);
  const sweep = Math.floor((w * (t % 1000)) / 1000);
  return {
    offset,
    square: [sx, sy, sx + side, sy + side],
    sweep: [0, h - Math.floor(h / 24), sweep, h],
  };
}

function fillBox(ctx, [x0, y0, x1, y1], level) {
  ctx.fillStyle = `rgb(${level},${level},${level})`;
  ctx.fillRect(x0, y0, x1 - x0, y1 - y0);
}

/** Draw the pattern for time tMs (ms since the epoch) into a w×h 2D context. */
export function drawTestPattern(ctx, w, h, tMs) {
  const g = geometry(w, h, tMs);
  for (const start of [0, w]) {
    BARS.forEach(([r, gr, b], i) => {
      const a = Math.floor((w * i) / BARS.length) + start - g.offset;
      const z = Math.floor((w * (i + 1)) / BARS.length) + start - g.offset;
      const x0 = Math.max(0, a);
      const x1 = Math.min(w, z);
      if (x1 > x0) {
        ctx.fillStyle = `rgb(${r},${gr},${b})`;
        ctx.fillRect(x0, 0, x1 - x0, h);
      }
    });
  }
  fillBox(ctx, bandFrame(w, h), GREY);
  fillBox(ctx, g.square, 255);
  fillBox(ctx, g.sweep, 255);
  const bits = encodeBits(tMs);
  cellBoxes(w, h).forEach((box, i) => fillBox(ctx, box, bits[i] ? 255 : 0));
}

/** The capture time (ms) in an ImageData of a whole frame at any size, or null. */
export function readTimestamp(imageData) {
  const { data, width, height } = imageData;
  if (width < COLS * 2 || height < 32) return null;
  const levels = cellBoxes(width, height).map(([x0, y0, x1, y1]) => {
    const mx = Math.floor((x1 - x0) / 4);
    const my = Math.floor((y1 - y0) / 4);
    let sum = 0;
    let count = 0;
    for (let y = y0 + my; y < y1 - my; y++) {
      for (let x = x0 + mx; x < x1 - mx; x++) {
        const i = (y * width + x) * 4;
        sum += data[i] + data[i + 1] + data[i + 2];
        count += 3;
      }
    }
    return count ? sum / count : 0;
  });
  const markers = START_MARKER.concat(END_MARKER);
  const markerLevels = levels.slice(0, 4).concat(levels.slice(-4));
  const mean = (xs) => xs.reduce((a, b) => a + b, 0) / xs.length;
  const hi = mean(markerLevels.filter((_, i) => markers[i] === 1));
  const lo = mean(markerLevels.filter((_, i) => markers[i] === 0));
  if (hi - lo < MIN_CONTRAST) return null;
  const threshold = (hi + lo) / 2;
  return decodeBits(levels.map((lv) => (lv > threshold ? 1 : 0)));
}

/**
 * Read the capture time from a playing <video> (drawn whole into a scratch
 * canvas at its intrinsic size, or at width×height if given), or null.
 */
export function readVideoTimestamp(video, width = video.videoWidth, height = video.videoHeight) {
  if (!width || !height) return null;
  const canvas = readVideoTimestamp.canvas ?? (readVideoTimestamp.canvas = document.createElement('canvas'));
  if (canvas.width !== width || canvas.height !== height) {
    canvas.width = width;
    canvas.height = height;
  }
  const ctx = canvas.getContext('2d', { willReadFrequently: true });
  ctx.drawImage(video, 0, 0, width, height);
  return readTimestamp(ctx.getImageData(0, 0, width, height));
}

/**
 * A MediaStream whose video track is the pattern, redrawn `fps` times a second
 * with the time of drawing in it (for browser→appliance latency).
 * Returns { stream, canvas, stop }.
 */
export function testPatternStream(width = 1280, height = 720, fps = 30) {
  const canvas = document.createElement('canvas');
  canvas.width = width;
  canvas.height = height;
  const ctx = canvas.getContext('2d');
  const draw = () => drawTestPattern(ctx, width, height, Date.now());
  draw();
  // setInterval, not requestAnimationFrame: rAF stops in hidden/headless tabs.
  const timer = setInterval(draw, 1000 / fps);
  const stream = canvas.captureStream(fps);
  const stop = () => {
    clearInterval(timer);
    stream.getTracks().forEach((t) => t.stop());
  };
  return { stream, canvas, stop };
}
