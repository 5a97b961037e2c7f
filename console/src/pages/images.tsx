// Images: one page of the server's list at a time, filtered by registry, repository and status.

import { useEffect, useState } from "preact/hooks";

import { get } from "../api";
import {
  ErrorBox,
  Link,
  Loading,
  PageTitle,
  Pager,
  Select,
  severityCount,
  StatusBadge,
  TextField,
  Time,
  imageReference,
  usePaged,
} from "../components";
import { type Location, navigate, withParams } from "../router";
import type { Image, Page } from "../types";

const STATUS_OPTIONS: [string, string][] = [
  ["", "Any status"],
  ["non_compliant", "Non-compliant"],
  ["compliant", "Compliant"],
  ["not_scanned", "Not scanned"],
];

export function ImagesPage(props: { location: Location }) {
  const query = props.location.query;
  const filters = {
    registry: query.get("registry") ?? "",
    repository: query.get("repository") ?? "",
    status: query.get("status") ?? "",
    kind: query.get("kind") ?? "",
    limit: query.get("limit") ?? "",
  };
  const [registry, setRegistry] = useState(filters.registry);
  const [repository, setRepository] = useState(filters.repository);
  const [status, setStatus] = useState(filters.status);
  const [kind, setKind] = useState(filters.kind);
  // Back and forward change the URL under the form: show what is applied.
  useEffect(() => {
    setRegistry(filters.registry);
    setRepository(filters.repository);
    setStatus(filters.status);
    setKind(filters.kind);
  }, [props.location.href]);
  const paged = usePaged<Image>(
    (nextToken) =>
      get<Page<Image>>("/v1/images", {
        registry: filters.registry,
        repository: filters.repository,
        status: filters.status,
        kind: filters.kind,
        limit: filters.limit || 50,
        next_token: nextToken,
      }),
    JSON.stringify(filters),
  );
  const apply = (changes: Partial<typeof filters> = {}) =>
    navigate(withParams("/images", { registry, repository, status, kind, limit: filters.limit, ...changes }));

  return (
    <>
      <PageTitle title="Images">Images</PageTitle>
      <form
        class="filters"
        aria-label="Filter images"
        onSubmit={(event) => {
          event.preventDefault();
          apply();
        }}
      >
        <TextField label="Registry" value={registry} onInput={setRegistry} placeholder="docker.io" />
        <TextField label="Repository" value={repository} onInput={setRepository} placeholder="library/alpine" />
        <Select
          label="Status"
          value={status}
          options={STATUS_OPTIONS}
          onChange={(value) => {
            setStatus(value);
            apply({ status: value });
          }}
        />
        <Select
          label="Kind"
          value={kind}
          options={[
            ["", "Images and workloads"],
            ["image", "Images"],
            ["workload", "Kubernetes workloads"],
          ]}
          onChange={(value) => {
            setKind(value);
            apply({ kind: value });
          }}
        />
        <button type="submit">Apply filters</button>
      </form>
      <ErrorBox error={paged.error} onRetry={paged.reload} />
      {paged.loading && !paged.data && <Loading what="images" />}
      {paged.data && (
        <div class="table-wrap">
          <table>
            <caption>Images</caption>
            <thead>
              <tr>
                <th scope="col">Reference</th>
                <th scope="col">Status</th>
                <th scope="col" class="num">
                  Critical
                </th>
                <th scope="col" class="num">
                  High
                </th>
                <th scope="col" class="num">
                  Medium
                </th>
                <th scope="col" class="num">
                  Low
                </th>
                <th scope="col">Other findings</th>
                <th scope="col" class="num">
                  Accepted
                </th>
                <th scope="col">Last scan</th>
              </tr>
            </thead>
            <tbody aria-busy={!paged.current}>
              {paged.data.items.length === 0 && (
                <tr>
                  <td colSpan={9}>No images{filters.registry || filters.repository || filters.status ? " match these filters" : " yet"}.</td>
                </tr>
              )}
              {paged.data.items.map((image) => (
                <tr key={image.id}>
                  <th scope="row">
                    <Link href={`/images/${encodeURIComponent(image.id)}`}>{imageReference(image)}</Link>
                    {image.tags.length > 1 && <small class="muted"> +{image.tags.length - 1} tags</small>}
                  </th>
                  <td>
                    <StatusBadge status={image.status} />
                  </td>
                  <td class="num">{severityCount(image.counts, "critical")}</td>
                  <td class="num">{severityCount(image.counts, "high")}</td>
                  <td class="num">{severityCount(image.counts, "medium")}</td>
                  <td class="num">{severityCount(image.counts, "low")}</td>
                  <td>{otherFindings(image)}</td>
                  <td class="num">{image.counts?.accepted ?? 0}</td>
                  <td>
                    <Time value={image.last_scan_at} />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <Pager paged={paged} label="Images" />
    </>
  );
}

function otherFindings(image: Image): string {
  const counts = image.counts;
  if (!counts) return "—";
  const parts = [
    [counts.sensitive_data, "secrets"],
    [counts.malware, "malware"],
    [counts.misconfigurations, "misconfigurations"],
  ]
    .filter(([count]) => Number(count) > 0)
    .map(([count, what]) => `${count} ${what}`);
  return parts.length ? parts.join(", ") : "none";
}
