package report

import "html/template"

var tmpl = template.Must(template.New("report").Funcs(template.FuncMap{"mib": func(n int64) float64 { return float64(n) / (1 << 20) }}).Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="generator" content="nfx report">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>NextFlow CRM-AI: from a laptop to the cloud</title>
<style>
 body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2rem auto; max-width: 60rem; color: #1d2733; background: #fff; }
 h1 { font-size: 1.6rem; } h2 { margin-top: 2.5rem; border-bottom: 2px solid #d8e0ea; padding-bottom: .3rem; }
 .sub { color: #5a6878; margin: .2rem 0 1rem; }
 svg text { font-family: inherit; }
 .box rect { fill: #eef4fb; stroke: #3a6ea5; stroke-width: 1.5; rx: 8; }
 .box .t { font-weight: 700; font-size: 14px; fill: #1d3f66; }
 .box .l { font-size: 12px; fill: #1d2733; }
 .arrow { stroke: #3a6ea5; stroke-width: 2; marker-end: url(#head); }
 .bar { fill: #3a6ea5; } .bar-max { fill: #b9cfe8; } .axis { stroke: #8895a3; }
 .v { font-size: 13px; text-anchor: middle; fill: #1d2733; } .v.in { fill: #fff; } .s { font-size: 14px; font-weight: 700; text-anchor: middle; }
 table { border-collapse: collapse; width: 100%; margin: .5rem 0 1rem; font-size: .9rem; }
 th, td { border: 1px solid #d8e0ea; padding: .35rem .5rem; text-align: left; vertical-align: top; }
 th { background: #f3f6fa; }
</style>
</head>
<body>
<h1>NextFlow CRM-AI: from a laptop to the cloud</h1>
<p class="sub">Rendered by nfx from the model and the repository's stack configurations. Costs are monthly, in {{.Currency}}.</p>

{{range .Diagrams}}
<h2>Stage: {{.Name}}</h2>
<p class="sub">{{.Subtitle}}</p>
<svg class="diagram" data-stage="{{.Name}}" width="{{.Width}}" height="{{.Height}}" viewBox="0 0 {{.Width}} {{.Height}}" role="img" aria-label="architecture of the {{.Name}} stage">
 <defs><marker id="head" markerWidth="8" markerHeight="8" refX="7" refY="4" orient="auto"><path d="M0,0 L8,4 L0,8 z" fill="#3a6ea5"/></marker></defs>
 {{range .Arrows}}<line class="arrow" x1="{{.X1}}" y1="{{.Y1}}" x2="{{.X2}}" y2="{{.Y2}}"/>{{end}}
 {{range .Boxes}}<g class="box"><rect x="{{.X}}" y="{{.Y}}" width="{{.W}}" height="{{.H}}"/>
  <text class="t" x="{{.X}}" y="{{.Y}}" dx="10" dy="20">{{.Title}}</text>
  {{$b := .}}{{range $i, $l := .Lines}}<text class="l" x="{{$b.X}}" y="{{$b.Y}}" dx="10" dy="{{index $.LineY $i}}">{{$l}}</text>{{end}}
 </g>{{end}}
</svg>
{{end}}

<h2>Monthly cost per stage</h2>
<svg class="chart" width="{{.ChartW}}" height="{{.ChartH}}" viewBox="0 0 {{.ChartW}} {{.ChartH}}" role="img" aria-label="monthly cost per stage">
 <line class="axis" x1="60" y1="250" x2="{{.ChartW}}" y2="250"/>
 {{range .Bars}}
  {{if .HasMax}}<rect class="bar-max" x="{{.X}}" y="{{.MaxY}}" width="{{.W}}" height="{{.MaxH}}"><title>at the node groups' maximum</title></rect>
  <text class="v" x="{{.LabelX}}" y="{{.MaxLabelY}}">{{.MaxLabel}}</text>{{end}}
  <rect class="bar" x="{{.X}}" y="{{.Y}}" width="{{.W}}" height="{{.H}}"/>
  <text class="v{{if .HasMax}} in{{end}}" x="{{.LabelX}}" y="{{.ValueY}}">{{.Label}}</text>
  <text class="s" x="{{.LabelX}}" y="{{.StageLabelY}}">{{.Name}}</text>
  {{if .OneTimeLabel}}<text class="v" x="{{.LabelX}}" y="290">{{.OneTimeLabel}}</text>{{end}}
 {{end}}
</svg>

<h2>Capacity per stage (estimated)</h2>
<table class="capacity">
 <tr><th>stage</th><th>concurrent users</th><th>AI requests/s</th><th>AI response</th><th>uptime</th><th>against the seed</th></tr>
 {{range .Capacity}}<tr><td>{{.Stage}}</td><td>{{.Users}}</td><td>{{.AI}}</td><td>{{.Response}}</td><td>{{.Uptime}}</td><td>{{.Seed}}{{if .Note}}<br><em>{{.Note}}</em>{{end}}</td></tr>{{end}}
</table>
<p class="sub">From each stage's GPUs, CRM cores and redundancy under one workload; <code>nfx capacity --stage S</code> lists the assumptions.</p>

{{if .Compliance}}<h2>Compliance per stage (SOC 2, ISO 27001, GDPR)</h2>
<table class="compliance">
 <tr><th>stage</th><th>pass</th><th>fail</th><th>outside the plan</th><th>people and process</th><th>failing</th></tr>
 {{range .Compliance}}<tr><td>{{.Stage}}</td><td>{{.Pass}}</td><td>{{.Fail}}</td><td>{{.Outside}}</td><td>{{.Manual}}</td><td>{{range $i, $f := .Failing}}{{if $i}}, {{end}}{{$f}}{{end}}</td></tr>{{end}}
</table>
<p class="sub">The controls each stage's plan can show, mapped to Prowler's identifiers; people and processes are never passed by a plan. <code>nfx compliance --stage S</code> names the resources and settings behind each.</p>{{end}}

{{range .Diffs}}
<h2>From {{.From}} to {{.To}}</h2>
<table>
 <tr><th>part</th><th>{{.From}}</th><th>{{.To}}</th></tr>
 {{range .Parts}}<tr><td>{{.Name}}</td><td>{{.From}}</td><td>{{.To}}</td></tr>{{end}}
</table>
<p>Resources: {{index .Resources 0}} → {{index .Resources 1}}.
{{if .MonthlyCostDelta}}Monthly cost: {{printf "%.0f" (index .MonthlyCost 0)}} → {{printf "%.0f" (index .MonthlyCost 1)}} {{.Currency}} ({{printf "%+.0f" .MonthlyCostDelta}}); one-time {{printf "%+.0f" .OneTimeCostDelta}} {{.Currency}}.{{end}}
{{if .CapacityDelta}}Capacity (estimated): {{(index .Capacity 0).Users}} → {{(index .Capacity 1).Users}} users, {{printf "%.1f" (index .Capacity 0).AIRequestsPerSecond}} → {{printf "%.1f" (index .Capacity 1).AIRequestsPerSecond}} AI requests/s, {{printf "%.2f" (index .Capacity 0).UptimePercent}} → {{printf "%.2f" (index .Capacity 1).UptimePercent}} % uptime.{{end}}
Targets: {{(index .Targets 0).Users}}, {{(index .Targets 0).Uptime}} % uptime → {{(index .Targets 1).Users}}, {{(index .Targets 1).Uptime}} % uptime.</p>
<ol>{{range .Migration}}<li><em>{{.Phase}}</em>: {{.Text}}</li>{{end}}</ol>
{{if .MigrationDowntime}}<p class="sub">Downtime: {{.MigrationDowntime}}.</p>{{end}}
{{with .Business}}<h3>The business case ({{.From.Stage}} → {{.To.Stage}}, VND)</h3>
<table class="business">
 {{range .Items}}<tr><td>{{.Label}}</td><td>{{.Value}}</td></tr>{{end}}
</table>
<ul class="sub">{{range .Assumptions}}<li>{{.}}</li>{{end}}</ul>{{end}}
{{end}}
{{if .Migrations}}<h2>Migrations</h2>
{{range .Migrations}}<h3>{{.Plan.From}} → {{.Plan.To}} ({{.Plan.Mode}} mode): {{.State}}</h3>
<p>Source database {{printf "%.1f" (mib .SourceBytes)}} MiB{{if .DumpBytes}}, dump {{printf "%.1f" (mib .DumpBytes)}} MiB{{end}}.
{{if not .CutoverAt.IsZero}}Measured write downtime: <strong>{{printf "%.1f" .DowntimeSeconds}} s</strong>.{{else}}Not cut over yet.{{end}}
{{with .Rehearsal}}Rehearsal: {{if .OK}}passed{{else}}FAILED{{end}}, RTO {{printf "%.1f" .RTOSeconds}} s, RPO {{printf "%.0f" .RPOSeconds}} s.{{end}}</p>
<table>
 <tr><th>step</th><th>state</th><th>seconds</th><th>detail</th></tr>
 {{range .Steps}}<tr><td><code>{{.ID}}</code></td><td>{{.State}}</td><td>{{printf "%.1f" .Seconds}}</td><td>{{.Detail}}{{if .Error}} <em>error: {{.Error}}</em>{{end}}</td></tr>{{end}}
</table>
{{with .Verification}}<p>Verification {{if .OK}}passed{{else}}<strong>FAILED</strong>{{end}}: {{len .Tables}} tables compared by rows and content checksum, {{.Sequences}} sequences{{if .Redis}}, {{.Redis.Keys}} Redis keys ({{.Redis.Compared}} compared by value and TTL){{end}}{{if .ReplicaLSN}}, the replica replayed up to {{.ReplicaLSN}}{{end}}.</p>
{{if .Problems}}<ul>{{range .Problems}}<li>{{.}}</li>{{end}}</ul>{{end}}{{end}}
{{end}}{{end}}
<script>
 // Marks the page as checked once every diagram and the chart have drawn.
 (function () {
   var svgs = document.querySelectorAll("svg.diagram, svg.chart");
   for (var i = 0; i < svgs.length; i++) {
     if (!svgs[i].querySelector("rect")) { throw new Error("empty figure " + i); }
   }
   document.body.setAttribute("data-report", "ok");
 })();
</script>
</body>
</html>
`))
