module github.com/nextflow-crm/nfx

go 1.26.6

require gopkg.in/yaml.v3 v3.0.1
