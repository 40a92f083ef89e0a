// Charts with uPlot: a time series (lines or bars over epoch seconds) and a bar chart over named
// categories. uPlot draws on canvas and styles with CSSOM, which the dashboard's CSP allows.
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import { useEffect, useRef } from 'preact/hooks';

export interface Series {
  readonly label: string;
  readonly color: string;
  readonly values: readonly (number | null)[];
}

const AXIS = { stroke: '#7d8794', grid: { stroke: '#2a3038', width: 1 }, ticks: { show: false } };

function usePlot(
  make: (width: number) => uPlot.Options,
  data: uPlot.AlignedData,
  key: string,
): preact.RefObject<HTMLDivElement | null> {
  const el = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | undefined>(undefined);
  useEffect(() => {
    const host = el.current;
    if (host === null) return undefined;
    const p = new uPlot(make(Math.max(200, host.clientWidth)), data, host);
    plot.current = p;
    const ro = new ResizeObserver(() => {
      p.setSize({ width: Math.max(200, host.clientWidth), height: p.height });
    });
    ro.observe(host);
    return () => {
      ro.disconnect();
      p.destroy();
      plot.current = undefined;
    };
    // The options change only with the series' names (key); the data is set below.
  }, [key]);
  useEffect(() => {
    plot.current?.setData(data);
  }, [data]);
  return el;
}

/** Values over time (x: epoch seconds). */
export function TimeChart({
  title,
  xs,
  series,
  bars = false,
  height = 140,
}: {
  title: string;
  xs: readonly number[];
  series: readonly Series[];
  bars?: boolean;
  height?: number;
}) {
  const data = [xs.slice(), ...series.map((s) => s.values.slice())] as uPlot.AlignedData;
  const ref = usePlot(
    (width) => ({
      width,
      height,
      legend: { show: series.length > 1 },
      cursor: { drag: { x: false, y: false } },
      scales: { y: { range: (_u, _min, max) => [0, Math.max(1, max)] } },
      axes: [AXIS, { ...AXIS, size: 40 }],
      series: [
        {},
        ...series.map((s) => ({
          label: s.label,
          stroke: s.color,
          fill: bars ? s.color : `${s.color}33`,
          width: bars ? 0 : 1.5,
          points: { show: false },
          ...(bars ? { paths: uPlot.paths.bars!({ size: [0.8, 40] }) } : {}),
        })),
      ],
    }),
    data,
    `${series.map((s) => s.label).join('|')}:${String(bars)}`,
  );
  return (
    <figure class="chart">
      <figcaption>{title}</figcaption>
      <div ref={ref} role="img" aria-label={title} />
    </figure>
  );
}

/** One bar per name (e.g. cost per agent); `colors` gives each bar its own colour. */
export function BarChart({
  title,
  names,
  values,
  color,
  colors,
  format,
  height = 160,
}: {
  title: string;
  names: readonly string[];
  values: readonly number[];
  color: string;
  colors?: readonly string[];
  format: (v: number) => string;
  height?: number;
}) {
  const colorsRef = useRef(colors);
  colorsRef.current = colors;
  const xs = names.map((_n, i) => i);
  const data = [xs, values.slice()] as uPlot.AlignedData;
  const ref = usePlot(
    (width) => ({
      width,
      height,
      legend: { show: false },
      cursor: { drag: { x: false, y: false } },
      scales: {
        x: { time: false, range: () => [-0.5, Math.max(0.5, names.length - 0.5)] },
        y: { range: (_u, _min, max) => [0, max > 0 ? max * 1.1 : 1] },
      },
      axes: [
        {
          ...AXIS,
          space: 10,
          incrs: [1],
          values: (_u, splits) => splits.map((i) => names[i] ?? ''),
        },
        { ...AXIS, size: 56, values: (_u, splits) => splits.map((v) => format(v)) },
      ],
      series: [
        {},
        {
          label: title,
          stroke: color,
          fill: color,
          width: 0,
          points: { show: false },
          paths: uPlot.paths.bars!({
            size: [0.6, 60],
            disp: {
              fill: {
                unit: 3,
                values: () => names.map((_n, i) => colorsRef.current?.[i] ?? color),
              },
            },
          }),
        },
      ],
    }),
    data,
    `${names.join('|')}:${(colors ?? []).join('|')}`,
  );
  return (
    <figure class="chart">
      <figcaption>{title}</figcaption>
      <div ref={ref} role="img" aria-label={title} />
      <ul class="chart-table">
        {names.map((n, i) => (
          <li key={n}>
            <span class="name">{n}</span> <b>{format(values[i] ?? 0)}</b>
          </li>
        ))}
      </ul>
    </figure>
  );
}
