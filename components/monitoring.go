package components

import (
	"fmt"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/nextflow-crm/nfx/internal/model"
)

// MonitoringType is the type token of a stage's monitoring component.
const MonitoringType = "nextflow:index:Monitoring"

// Monitoring is a stage's Prometheus, Alertmanager and exporters: a part
// of the stack of its own, whose inputs record what it runs and keeps, so
// that a preview shows a change of them.
type Monitoring struct {
	pulumi.ResourceState
}

// NewMonitoring registers the monitoring of the app's stage.
func NewMonitoring(ctx *pulumi.Context, name string, app *model.App, opts ...pulumi.ResourceOption) (*Monitoring, error) {
	c := app.Config
	var services []any
	for _, in := range model.MonitoringInstances(c) {
		services = append(services, fmt.Sprintf("%s (%s) x%d", in.Name, in.Exporter, in.Replicas))
	}
	props := ToInputs(map[string]any{
		"retentionDays":  c.Monitoring.RetentionDays,
		"scrapeSeconds":  c.Monitoring.ScrapeSeconds,
		"volumeGB":       int(model.PrometheusVolume(c) / model.GiB),
		"seriesEstimate": model.PrometheusSeries(c),
		"services":       services,
	})
	m := &Monitoring{}
	if err := ctx.RegisterComponentResourceV2(MonitoringType, name, props, m, opts...); err != nil {
		return nil, err
	}
	if err := ctx.RegisterResourceOutputs(m, pulumi.Map{}); err != nil {
		return nil, err
	}
	return m, nil
}
