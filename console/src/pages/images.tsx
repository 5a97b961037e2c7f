// Images: one page of the server's list at a time, filtered by registry, repository and status.

import { get } from "../api";
import { Filters, Link, PageTitle, PagedTable, Select, StatusBadge, TextField, Time, imageReference, severityCount, usePaged } from "../components";
import { type Location, navigate, useFilters, withParams } from "../router";
import type { Image, Page } from "../types";

const STATUS_OPTIONS: [string, string][] = [
  ["", "Any status"],
  ["non_compliant", "Non-compliant"],
  ["compliant", "Compliant"],
  ["not_scanned", "Not scanned"],
];

export function ImagesPage(props: { location: Location }) {
  // `limit` has no field: it is kept as the URL says.
  const { applied: filters, draft, set } = useFilters(props.location, ["registry", "repository", "status", "kind", "limit"]);
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
  const apply = (changes: Partial<typeof filters> = {}) => navigate(withParams("/images", { ...draft, limit: filters.limit, ...changes }));

  return (
    <>
      <PageTitle title="Images">Images</PageTitle>
      <Filters label="Filter images" onApply={() => apply()}>
        <TextField label="Registry" value={draft.registry} onInput={set("registry")} placeholder="docker.io" />
        <TextField label="Repository" value={draft.repository} onInput={set("repository")} placeholder="library/alpine" />
        <Select
          label="Status"
          value={draft.status}
          options={STATUS_OPTIONS}
          onChange={(value) => {
            set("status")(value);
            apply({ status: value });
          }}
        />
        <Select
          label="Kind"
          value={draft.kind}
          options={[
            ["", "Images and workloads"],
            ["image", "Images"],
            ["workload", "Kubernetes workloads"],
          ]}
          onChange={(value) => {
            set("kind")(value);
            apply({ kind: value });
          }}
        />
      </Filters>
      <PagedTable
        paged={paged}
        caption="Images"
        loading="images"
        busy={!paged.current}
        columns={[
          "Reference",
          "Status",
          { num: "Critical" },
          { num: "High" },
          { num: "Medium" },
          { num: "Low" },
          "Other findings",
          { num: "Accepted" },
          "Last scan",
        ]}
        empty={`No images${filters.registry || filters.repository || filters.status ? " match these filters" : " yet"}.`}
        row={(image) => (
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
        )}
      />
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
