// The traffic timeline: bytes and packets per second over the last ten
// minutes, drawn on a canvas (bytes as a filled area on the left scale,
// packets as a line on the right scale). Fed with every `traffic` message's
// totals; redrawn at most once per animation frame.

import { formatBytes, formatCount } from './format.js';

export const WINDOW_SECONDS = 600;

export class Timeline {
  constructor(canvas, summaryEl) {
    this.canvas = canvas;
    this.summaryEl = summaryEl;
    /** timestamp -> {bytes, packets} */
    this.points = new Map();
    this.last = 0;
    this.pending = false;
    this.resizeObserver = new ResizeObserver(() => this.schedule());
    this.resizeObserver.observe(canvas);
  }

  clear() {
    this.points.clear();
    this.last = 0;
    this.schedule();
  }

  /** One interval's totals (several messages for one second add up). */
  add({ timestamp, bytes, packets }) {
    if (!Number.isFinite(timestamp)) return;
    // A capture replayed in a loop, or spind's clock stepping back: start over.
    if (this.last && timestamp < this.last - WINDOW_SECONDS) this.points.clear();
    const p = this.points.get(timestamp) || { bytes: 0, packets: 0 };
    p.bytes += bytes;
    p.packets += packets;
    this.points.set(timestamp, p);
    this.last = Math.max(this.last, timestamp);
    for (const t of this.points.keys()) if (t <= this.last - WINDOW_SECONDS) this.points.delete(t);
    this.canvas.dataset.points = String(this.points.size);
    this.canvas.dataset.last = String(this.last);
    const cur = this.points.get(this.last);
    this.summaryEl.textContent = `${formatBytes(cur.bytes)}/s · ${formatCount(cur.packets)} packets/s`;
    this.schedule();
  }

  schedule() {
    if (this.pending) return;
    this.pending = true;
    window.requestAnimationFrame(() => {
      this.pending = false;
      this.draw();
    });
  }

  draw() {
    const c = this.canvas;
    const dpr = window.devicePixelRatio || 1;
    const w = Math.max(1, Math.round(c.clientWidth * dpr));
    const h = Math.max(1, Math.round(c.clientHeight * dpr));
    if (c.width !== w || c.height !== h) {
      c.width = w;
      c.height = h;
    }
    const g = c.getContext('2d');
    g.clearRect(0, 0, w, h);
    const padL = 58 * dpr;
    const padR = 52 * dpr;
    const padT = 8 * dpr;
    const padB = 16 * dpr;
    const pw = Math.max(1, w - padL - padR);
    const ph = Math.max(1, h - padT - padB);
    const end = this.last || Math.floor(Date.now() / 1000);
    const start = end - WINDOW_SECONDS + 1;
    let maxB = 1;
    let maxP = 1;
    for (const p of this.points.values()) {
      maxB = Math.max(maxB, p.bytes);
      maxP = Math.max(maxP, p.packets);
    }
    const x = (t) => padL + ((t - start) / (WINDOW_SECONDS - 1)) * pw;
    const yB = (v) => padT + ph - (v / maxB) * ph;
    const yP = (v) => padT + ph - (v / maxP) * ph;

    g.font = `${10 * dpr}px system-ui, sans-serif`;
    g.fillStyle = '#8aa1bd';
    g.strokeStyle = 'rgba(138,161,189,0.25)';
    g.lineWidth = 1;
    for (let i = 0; i <= 2; i++) {
      const yy = padT + (ph * i) / 2;
      g.beginPath();
      g.moveTo(padL, yy);
      g.lineTo(padL + pw, yy);
      g.stroke();
      g.textAlign = 'right';
      g.fillText(`${formatBytes((maxB * (2 - i)) / 2)}/s`, padL - 4 * dpr, yy + 3 * dpr);
      g.textAlign = 'left';
      g.fillText(formatCount((maxP * (2 - i)) / 2), padL + pw + 4 * dpr, yy + 3 * dpr);
    }
    g.textAlign = 'center';
    for (let m = 10; m >= 0; m -= 2) {
      g.fillText(m ? `-${m} min` : 'now', x(end - m * 60), h - 3 * dpr);
    }

    const ts = [...this.points.keys()].filter((t) => t >= start).sort((a, b) => a - b);
    if (!ts.length) return;
    // Seconds without a message had no traffic: draw them as zero.
    const series = [];
    for (let t = ts[0]; t <= end; t++) {
      const p = this.points.get(t);
      series.push([t, p ? p.bytes : 0, p ? p.packets : 0]);
    }
    g.beginPath();
    g.moveTo(x(series[0][0]), yB(0));
    for (const [t, b] of series) g.lineTo(x(t), yB(b));
    g.lineTo(x(series[series.length - 1][0]), yB(0));
    g.closePath();
    g.fillStyle = 'rgba(77,143,224,0.45)';
    g.fill();
    g.beginPath();
    series.forEach(([t, , p], i) => (i ? g.lineTo(x(t), yP(p)) : g.moveTo(x(t), yP(p))));
    g.strokeStyle = '#f0a040';
    g.lineWidth = 1.5 * dpr;
    g.stroke();
  }
}
