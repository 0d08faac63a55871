package aws

// PriceTable is AWS on-demand pricing for one region, in USD.
type PriceTable struct {
	Region string
	// Hourly prices.
	EKSCluster  float64            // per cluster-hour, in standard support
	EKSExtended float64            // per cluster-hour, in extended support
	EC2         map[string]float64 // Linux, per instance-hour
	RDS         map[string]float64 // PostgreSQL, single-AZ, per instance-hour (Multi-AZ is twice)
	Cache       map[string]float64 // Redis, per node-hour
	NATHour     float64            // per gateway-hour
	PublicIPv4  float64            // per address-hour
	// Monthly and per-GB prices.
	EBSgp3GB    float64 // per GB-month
	RDSgp3GB    float64 // per GB-month, single-AZ
	S3GB        float64 // Standard, per GB-month
	NATGB       float64 // data processed, per GB
	TransferOut float64 // to the Internet, per GB
	// TransferRegion is to another AWS region, per GB, billed by the
	// source region (us-east-1 to us-west-2 or eu-west-1: $0.02).
	TransferRegion float64
	AlarmMonth     float64 // per standard alarm-month
	KMSKeyMonth    float64 // per customer key-month
	LogsIngestGB   float64 // CloudWatch Logs, per GB ingested
	// HostedZoneMonth is Route 53's, a global service: per hosted zone-month,
	// of the first 25 (Route 53 pricing).
	HostedZoneMonth float64
}

// PricesDate and PricesSource say where the table comes from. The figures
// are AWS's public on-demand list prices for Linux as nfx compiled them; the
// g5.xlarge price in us-east-1 ($1.006/h) was checked against a public rate
// card of June 2026. Check the others with the AWS Pricing Calculator
// before relying on them: prices change, and nfx cannot reach AWS offline.
const (
	PricesDate   = "2026-11-27"
	PricesSource = "AWS public on-demand list prices (Linux), compiled by nfx; verify with the AWS Pricing Calculator"
)

// HoursPerMonth is AWS's billing month.
const HoursPerMonth = 730

// Prices holds the regions nfx prices.
var Prices = map[string]PriceTable{
	"us-east-1": {
		Region: "us-east-1", EKSCluster: 0.10, EKSExtended: 0.60,
		EC2: map[string]float64{
			"m6i.large": 0.096, "m6i.xlarge": 0.192, "m6i.2xlarge": 0.384,
			"g4dn.xlarge": 0.526, "g4dn.2xlarge": 0.752, "g5.xlarge": 1.006, "g5.2xlarge": 1.212, "g5.4xlarge": 1.624,
		},
		RDS:     map[string]float64{"db.r6g.large": 0.225, "db.r6g.xlarge": 0.450, "db.m6g.large": 0.152},
		Cache:   map[string]float64{"cache.r6g.large": 0.206, "cache.r6g.xlarge": 0.411, "cache.m6g.large": 0.149},
		NATHour: 0.045, PublicIPv4: 0.005,
		EBSgp3GB: 0.08, RDSgp3GB: 0.115, S3GB: 0.023, NATGB: 0.045, TransferOut: 0.09, TransferRegion: 0.02,
		AlarmMonth: 0.10, KMSKeyMonth: 1.00, LogsIngestGB: 0.50, HostedZoneMonth: 0.50,
	},
	"ap-southeast-1": {
		Region: "ap-southeast-1", EKSCluster: 0.10, EKSExtended: 0.60,
		EC2: map[string]float64{
			"m6i.large": 0.12, "m6i.xlarge": 0.24, "m6i.2xlarge": 0.48,
			"g4dn.xlarge": 0.736, "g4dn.2xlarge": 1.052, "g5.xlarge": 1.258, "g5.2xlarge": 1.515, "g5.4xlarge": 2.03,
		},
		RDS:     map[string]float64{"db.r6g.large": 0.287, "db.r6g.xlarge": 0.574, "db.m6g.large": 0.191},
		Cache:   map[string]float64{"cache.r6g.large": 0.262, "cache.r6g.xlarge": 0.524, "cache.m6g.large": 0.19},
		NATHour: 0.059, PublicIPv4: 0.005,
		EBSgp3GB: 0.096, RDSgp3GB: 0.138, S3GB: 0.025, NATGB: 0.059, TransferOut: 0.12, TransferRegion: 0.09,
		AlarmMonth: 0.10, KMSKeyMonth: 1.00, LogsIngestGB: 0.70, HostedZoneMonth: 0.50,
	},
}
