// Small building blocks shared by the views.
import { cloneElement, isValidElement, type ComponentChildren, type VNode } from 'preact';
import { useEffect, useRef } from 'preact/hooks';
import { describeError } from '../api';
import { bytes } from '../format';

/** An error in words (the API's problem detail), announced to screen readers. */
export function ErrorMessage({ error, prefix }: { error: unknown; prefix?: string }) {
  if (!error) return null;
  return (
    <p class="error" role="alert">
      {prefix ? `${prefix}: ` : ''}
      {describeError(error)}
    </p>
  );
}

export function Loading({ what }: { what: string }) {
  return (
    <p class="muted" role="status">
      Loading {what}…
    </p>
  );
}

/** A job's progress: a native progress bar with its figure in words beside it. */
export function Progress({
  percent,
  synced,
  total,
  label,
}: {
  percent: number;
  synced?: number;
  total?: number;
  label: string;
}) {
  return (
    <span class="progress">
      <progress max={100} value={percent} aria-label={label} data-percent={percent} />
      <span class="progress-text">
        {percent} %{synced !== undefined ? ` · ${bytes(synced)}${total ? ` of ${bytes(total)}` : ''}` : ''}
      </span>
    </span>
  );
}

/** A modal dialog (native <dialog>: focus is kept inside, Escape closes it). */
export function Dialog({
  title,
  onClose,
  children,
}: {
  title: string;
  onClose: () => void;
  children: ComponentChildren;
}) {
  const ref = useRef<HTMLDialogElement>(null);
  useEffect(() => {
    const d = ref.current;
    if (d && !d.open) d.showModal();
    const cancel = (e: Event) => {
      e.preventDefault();
      onClose();
    };
    d?.addEventListener('cancel', cancel);
    return () => d?.removeEventListener('cancel', cancel);
  }, [onClose]);
  return (
    <dialog ref={ref} aria-labelledby="dialog-title" class="dialog">
      <h2 id="dialog-title">{title}</h2>
      {children}
    </dialog>
  );
}

/**
 * A labelled form field with the API's message for it shown beside it; the control (the one child) is marked
 * invalid and described by the message, so a screen reader announces both.
 */
export function Field({
  id,
  label,
  error,
  hint,
  children,
}: {
  id: string;
  label: string;
  error?: string;
  hint?: string;
  children: VNode;
}) {
  const describedBy = error ? `${id}-error` : hint ? `${id}-hint` : undefined;
  const control = isValidElement(children)
    ? cloneElement(children, { 'aria-invalid': error ? 'true' : undefined, 'aria-describedby': describedBy })
    : children;
  return (
    <div class={`field${error ? ' has-error' : ''}`}>
      <label for={id}>{label}</label>
      {control}
      {hint && !error ? (
        <span class="hint" id={`${id}-hint`}>
          {hint}
        </span>
      ) : null}
      {error ? (
        <span class="field-error" id={`${id}-error`} role="alert">
          {error}
        </span>
      ) : null}
    </div>
  );
}

/** Definition list rows: label -> value. */
export function Facts({ rows }: { rows: [string, ComponentChildren][] }) {
  return (
    <dl class="facts">
      {rows.map(([k, v]) => (
        <div key={k}>
          <dt>{k}</dt>
          <dd>{v}</dd>
        </div>
      ))}
    </dl>
  );
}
