/**
 * The ring as a picture: members on a circle in ring order, an arrow from each to the next
 * (the neighbour it sends to in both all-reduce phases). SVG, built as DOM nodes.
 */
const NS = 'http://www.w3.org/2000/svg';

function s<K extends keyof SVGElementTagNameMap>(tag: K, attrs: Record<string, string | number>, text?: string): SVGElementTagNameMap[K] {
  const el = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  if (text !== undefined) el.textContent = text;
  return el;
}

export function renderRing(ring: string[], labels: Map<string, string>, epoch: number): SVGSVGElement {
  const W = 320;
  const R = 110;
  const c = W / 2;
  const svg = s('svg', { viewBox: `0 0 ${W} ${W}`, width: W, height: W, role: 'img', 'aria-label': `ring of ${ring.length} members, epoch ${epoch}`, id: 'ring', 'data-members': ring.length });
  const defs = s('defs', {});
  const marker = s('marker', { id: 'arrow', viewBox: '0 0 10 10', refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: 'auto-start-reverse' });
  marker.append(s('path', { d: 'M 0 0 L 10 5 L 0 10 z', fill: '#495057' }));
  defs.append(marker);
  svg.append(defs);
  if (ring.length === 0) {
    svg.append(s('text', { x: c, y: c, 'text-anchor': 'middle', class: 'ring-empty' }, 'no ring yet'));
    return svg;
  }
  const pos = ring.map((_, i) => {
    const a = -Math.PI / 2 + (2 * Math.PI * i) / ring.length;
    return { x: c + R * Math.cos(a), y: c + R * Math.sin(a) };
  });
  const node = 26;
  if (ring.length > 1) {
    ring.forEach((_, i) => {
      const a = pos[i]!;
      const b = pos[(i + 1) % ring.length]!;
      const dx = b.x - a.x;
      const dy = b.y - a.y;
      const len = Math.hypot(dx, dy) || 1;
      const [ux, uy] = [dx / len, dy / len];
      // bow each edge outward a little so a two-member ring shows both directions
      const mx = (a.x + b.x) / 2 - uy * 18;
      const my = (a.y + b.y) / 2 + ux * 18;
      svg.append(s('path', {
        d: `M ${a.x + ux * node} ${a.y + uy * node} Q ${mx} ${my} ${b.x - ux * node} ${b.y - uy * node}`,
        class: 'ring-edge', fill: 'none', stroke: '#495057', 'stroke-width': 2, 'marker-end': 'url(#arrow)',
        'data-from': ring[i]!, 'data-to': ring[(i + 1) % ring.length]!,
      }));
    });
  }
  ring.forEach((id, i) => {
    const p = pos[i]!;
    const g = s('g', { class: 'ring-node', 'data-member': id });
    g.append(s('circle', { cx: p.x, cy: p.y, r: node, fill: '#e7f5ff', stroke: '#1c7ed6', 'stroke-width': 2 }));
    g.append(s('text', { x: p.x, y: p.y - 2, 'text-anchor': 'middle', 'font-size': 10, class: 'mono' }, id.slice(0, 6)));
    g.append(s('text', { x: p.x, y: p.y + 11, 'text-anchor': 'middle', 'font-size': 9, fill: '#495057' }, labels.get(id) ?? ''));
    svg.append(g);
  });
  svg.append(s('text', { x: c, y: c + 4, 'text-anchor': 'middle', 'font-size': 12, fill: '#868e96' }, `epoch ${epoch}`));
  return svg;
}
