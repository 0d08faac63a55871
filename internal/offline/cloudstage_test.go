package offline_test

// The tests realise the cloud stage too: the registry gets it as
// nfx-cloud and nextflow-cloud get it.
import _ "github.com/nextflow-crm/nfx/stacks/cloudstage"
