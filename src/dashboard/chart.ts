const svgNamespace = 'http://www.w3.org/2000/svg';

const svg = <K extends keyof SVGElementTagNameMap>(tag: K, attributes: Record<string, string | number>) => {
  const element = document.createElementNS(svgNamespace, tag);
  for (const [name, value] of Object.entries(attributes)) element.setAttribute(name, String(value));
  return element;
};

export interface Series {
  name: string;
  /** [x, y] points, x ascending. */
  points: Array<[number, number]>;
}

const palette = ['#1f5fbf', '#b34700', '#2e7d32', '#7b1fa2', '#00838f', '#5d4037', '#c2185b', '#455a64'];

/**
 * A line chart of one or more series over a shared x range, as SVG that scales to its box. The
 * numbers it draws are also given as text (`summary`), so a screen reader gets the same facts.
 */
export const lineChart = (options: {
  title: string;
  summary: string;
  series: Series[];
  xRange: [number, number];
  xLabel: (x: number) => string;
  /** Draw bars (counts per interval) rather than lines. */
  bars?: boolean;
}): HTMLElement => {
  const width = 600;
  const height = 160;
  const pad = { left: 40, right: 8, top: 8, bottom: 22 };
  const [x0, x1] = options.xRange;
  const maxY = Math.max(1, ...options.series.flatMap((series) => series.points.map(([, y]) => y)));
  const xOf = (x: number) => pad.left + ((x - x0) / Math.max(1, x1 - x0)) * (width - pad.left - pad.right);
  const yOf = (y: number) => height - pad.bottom - (y / maxY) * (height - pad.top - pad.bottom);
  const root = svg('svg', { viewBox: `0 0 ${width} ${height}`, role: 'img', class: 'chart' });
  const title = svg('title', {});
  title.textContent = `${options.title}. ${options.summary}`;
  root.append(title);
  root.append(svg('line', { x1: pad.left, x2: width - pad.right, y1: yOf(0), y2: yOf(0), class: 'axis' }));
  for (const [y, anchor] of [
    [maxY, 'top'],
    [0, 'bottom'],
  ] as const) {
    const label = svg('text', {
      x: pad.left - 4,
      y: yOf(y) + (anchor === 'top' ? 10 : 0),
      'text-anchor': 'end',
    });
    label.textContent = String(y);
    root.append(label);
  }
  for (const [x, anchor] of [
    [x0, 'start'],
    [x1, 'end'],
  ] as const) {
    const label = svg('text', { x: xOf(x), y: height - 6, 'text-anchor': anchor });
    label.textContent = options.xLabel(x);
    root.append(label);
  }
  options.series.forEach((series, index) => {
    const color = palette[index % palette.length] as string;
    if (options.bars) {
      const barWidth = Math.max(1, (width - pad.left - pad.right) / Math.max(1, (x1 - x0) / 60_000));
      for (const [x, y] of series.points) {
        root.append(
          svg('rect', { x: xOf(x), y: yOf(y), width: barWidth, height: yOf(0) - yOf(y), fill: color }),
        );
      }
    } else if (series.points.length > 0) {
      root.append(
        svg('polyline', {
          points: series.points.map(([x, y]) => `${xOf(x).toFixed(1)},${yOf(y).toFixed(1)}`).join(' '),
          fill: 'none',
          stroke: color,
          'stroke-width': 2,
        }),
      );
    }
  });
  const figure = document.createElement('figure');
  const caption = document.createElement('figcaption');
  caption.textContent = options.title;
  figure.append(caption, root);
  if (options.series.length > 1) {
    const legend = document.createElement('ul');
    legend.className = 'legend';
    options.series.forEach((series, index) => {
      const item = document.createElement('li');
      const swatch = document.createElement('span');
      swatch.className = 'swatch';
      swatch.style.background = palette[index % palette.length] as string;
      item.append(swatch, series.name);
      legend.append(item);
    });
    figure.append(legend);
  }
  const summary = document.createElement('p');
  summary.className = 'chart-summary';
  summary.textContent = options.summary;
  figure.append(summary);
  return figure;
};
